"""Issue 23, item 2: three ``python -m bot`` replicas on one real PostgreSQL, one of them
behind a TCP proxy that stalls its database connection for longer than its lease while it
polls a render. Another replica takes the chat over and delivers the video; the stalled one
stops its worker before its lease can have run out and, once its connection flows again,
sends nothing, renders nothing and uploads nothing: each reply and the video exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.sandbox.stall import run_stalled_replica


@pytest.mark.timeout(300)
async def test_a_replica_whose_database_stalls_past_its_lease_doubles_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    out = await run_stalled_replica(tmp_path, pg_url, lease_seconds=4.0, chats=20, per_chat=3)
    logs = "\n".join(p.read_text()[-4000:] for p in out.logs)
    assert out.stalled_owner_held_render, logs
    assert not out.timed_out, logs
    assert out.videos == 1, logs
    assert out.render_requests == 1 and out.uploads == 1, logs
    assert out.unanswered == [] and out.answered_twice == [], logs
    assert out.sent_twice == [], logs
    assert out.stopped_in_time, logs
