"""The note list of each ATS, as the write-back reads it after a crash: adapter and emulator over real HTTP.

Documents followed, per ATS (the emulators answer in these shapes):
- Greenhouse: https://developers.greenhouse.io/harvest.html#get-retrieve-activity-feed
  (GET /v1/candidates/{id}/activity_feed: {"notes": [{"body", ...}], "emails", "activities"}).
- Lever: https://hire.lever.co/developer/documentation#list-all-notes (GET /opportunities/{id}/notes:
  {"data": [{"fields": [{"value"}], ...}], "hasNext", "next"}; `limit`, and `offset` = the previous `next`).
- Ashby: https://developers.ashbyhq.com/docs/candidatelistnotes (candidate.listNotes: results of
  {"content", ...}; `cursor` = `nextCursor` while `moreDataAvailable`).
- Recruitee: https://api.recruitee.com/docs/index.html#note.web.note-note.web.note
  (GET /c/{company}/candidates/{id}/notes: {"notes": [{"body", ...}]}).
"""

from __future__ import annotations

import pytest

from deploy.local.ats_emulators import EmulatorState
from services.connectors.adapters import NoteTarget
from services.connectors.api import AtsClient
from services.connectors.notes import note_marker, with_marker
from services.connectors.registry import load_adapters

CASES = {
    # ats: (options, the target's ATS ids, the records its note endpoints need)
    "greenhouse": ({"on_behalf_of": "4080"}, NoteTarget("60304594", "71980812"), {}),
    "lever": ({"perform_as": "u-1"}, NoteTarget("c-1", "opp-1"), {"opportunities/opp-1": {"id": "opp-1"}}),
    "ashby": ({}, NoteTarget("cand-1", "app-1"), {"candidates/cand-1": {"id": "cand-1"}}),
    "recruitee": ({"company_id": "54123"}, NoteTarget("881", "881-12"), {}),
}


@pytest.mark.parametrize("ats", sorted(CASES))
async def test_notes_written_are_listed_with_their_markers_across_pages(
    ats: str, ats_api: tuple[str, EmulatorState]
) -> None:
    url, state = ats_api
    options, target, records = CASES[ats]
    for name, record in records.items():
        state.seed(ats, name, record)
    adapter = load_adapters()[ats]
    api = AtsClient(adapter, f"{url}/{ats}", f"dev-{ats}-key", options, attempts=1)
    try:
        assert await adapter.note_texts(api, target) == []
        marker = note_marker(["n-1:sent", "n-1:delivered"])
        await adapter.write_note(
            api, target, with_marker("Candidate communication (candidate-comms)\n- a line", marker)
        )
        # Someone else's notes on the same candidate, enough to need a second page where the ATS pages.
        key = target.application_id if ats == "lever" else target.candidate_id
        for i in range(120):
            state.record_note(ats, key or "", f"a recruiter's note {i}")
        texts = await adapter.note_texts(api, target)
    finally:
        await api.close()
    assert len(texts) == 121
    assert [t for t in texts if marker in t] == [f"Candidate communication (candidate-comms)\n- a line\n{marker}"]
    lists = [c for c in state.calls if c["method"] == "GET" or c["path"].endswith("listNotes")]
    assert len(lists) == (3 if ats in ("lever", "ashby") else 2)  # empty, then two pages where the ATS pages


def test_markers_are_short_stable_and_say_nothing_readable() -> None:
    keys = ["preferences:greenhouse:60304594:3", "5b6c0d3e-0000-4000-8000-000000000001:sent"]
    marker = note_marker(keys)
    assert marker == note_marker(list(reversed(keys)))  # the order of the keys does not matter
    assert marker != note_marker(keys[:1])
    assert len(marker) < 45 and "60304594" not in marker and "greenhouse" not in marker.split("/")[-1]
