"""Services as real OS processes for tests (shared with the benchmark and chaos runs)."""

from deploy.local.procs import ServiceProcess, free_port

__all__ = ["ServiceProcess", "free_port"]
