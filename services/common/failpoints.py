"""Crash points for the crash tests: SIGKILL this process where an environment setting says.

A real crash, not an exception: nothing after the point runs, no finally block, no flush.
"""

from __future__ import annotations

import os
import signal


class CrashPoints:
    """Kills the process at a named point when configured to (None: never)."""

    def __init__(self, crash_at: str | None) -> None:
        self._at = crash_at

    def reached(self, name: str) -> None:
        """Call at a crash point; kills the process if it is the configured one."""
        if self._at == name:
            os.kill(os.getpid(), signal.SIGKILL)
