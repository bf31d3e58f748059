"""The records the emulators of `make run` start with, so docs/connectors-lever-ashby.md works as written.

records/<ats>.json holds, per kind, the records that ATS's API serves by id: Lever's and Ashby's documented
examples (an opportunity with its stage, application and posting, an interview, archive reasons; an Ashby
application and its candidate). The webhook fixtures under tests/connectors/fixtures/<ats>/ name these ids,
and the tests read the same files (their api_records.json link here). Tests start their emulators empty.
"""

from __future__ import annotations

import json
from pathlib import Path

from deploy.local.ats_emulators.state import EmulatorState

RECORDS = Path(__file__).parent / "records"


def seed_local(state: EmulatorState, directory: Path = RECORDS) -> list[str]:
    """Seed every record of every records/<ats>.json; the "<ats>/<kind>/<id>" names seeded."""
    seeded = []
    for path in sorted(directory.glob("*.json")):
        for kind, by_id in json.loads(path.read_text()).items():
            for key, record in by_id.items():
                state.seed(path.stem, f"{kind}/{key}", record)
                seeded.append(f"{path.stem}/{kind}/{key}")
    return seeded
