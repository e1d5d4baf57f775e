"""Issue 23, items 2, 3 and the pruning part of 10, on a real SQLite file and a real
PostgreSQL: a stale lease holder's irreversible steps change nothing, one session per chat
topic whoever creates it, and pruning never touches unfinished work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot import __version__
from bot.backend import NemoClient
from bot.conversation.accounts import Accounts
from bot.sandbox.backend import FakeBackend
from bot.store import ChatStore, SendRecord, open_store
from bot.store.claims import LeaseLost, holding

Opener = Callable[[], Awaitable[ChatStore]]
WEEK = 7 * 86400


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def reopen(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Opener:
    url = (f"sqlite:///{tmp_path / 'bot.db'}" if engine == "sqlite"
           else str(request.getfixturevalue("pg_url")))
    return lambda: open_store(url)


async def test_pruning_after_a_clock_jump_keeps_the_records_of_unfinished_work(
    reopen: Opener,
) -> None:
    """The wall clock jumped eight days ahead while a job ran (``older_than_seconds``
    shifted by the jump is what the same prune sees): its sends must stay, or the job's
    second run would send again what it sent before (a doubled answer or video)."""
    store = await reopen()
    running = await store.add_job(1, 0, "export", {})
    finished = await store.add_job(1, 0, "turn", {})
    assert running is not None and finished is not None
    assert await store.start_job(running) and await store.start_job(finished)
    await store.finish_job(finished)
    await store.begin_send(f"job:{running}", "rendering")
    await store.end_send(f"job:{running}", "delivery", 41)
    await store.end_send(f"job:{finished}", "ack", 42)
    await store.keep_updates([(900, "{}")])  # an update kept, not handled yet
    await store.end_send("update:900", "text:x:1", 43)
    await store.prune_jobs(older_than_seconds=WEEK - 8 * 86400)
    assert await store.sends(f"job:{running}") == {
        "rendering": SendRecord(False, None), "delivery": SendRecord(True, 41)
    }
    assert await store.sends("update:900") == {"text:x:1": SendRecord(True, 43)}
    assert await store.sends(f"job:{finished}") == {}  # finished work is pruned as before
    await store.close()


async def test_a_stale_claims_irreversible_steps_change_nothing(
    engine: str, reopen: Opener
) -> None:
    """A worker whose claim was superseded (a replica took the chat over; on SQLite, a
    second worker of the one process) cannot begin a send, record an upload, mark its
    instruction sent or start a render: each raises LeaseLost and writes nothing."""
    a, b = await reopen(), await reopen() if engine == "postgresql" else None
    b = b or a
    job = await a.add_job(7, 0, "media", {})
    assert job is not None and await a.start_job(job)
    old = await a.claim(7, 0, "replica-a", ttl=0.3)
    assert old is not None
    with holding(old):  # while it holds, the steps work
        await a.begin_send(f"job:{job}", "setup")
    await asyncio.sleep(0.5)  # its lease expired (a stalled connection, a paused host)
    new = await b.claim(7, 0, "replica-b", ttl=30)
    assert new is not None and new.epoch != old.epoch
    with holding(old):
        for step in (
            a.begin_send(f"job:{job}", "ack"),
            a.mark_uploaded(job, {"files": []}),
            a.mark_turn_sent(job),
            a.set_render(7, 0, "render-stale", 5),
        ):
            with pytest.raises(LeaseLost):
                await step
    assert not await a.holds(old) and await b.holds(new)
    reread = await b.next_job(7, 0)
    assert reread is not None and reread.uploaded is None and not reread.turn_sent
    assert await b.sends(f"job:{job}") == {"setup": SendRecord(False, None)}
    topic = await b.get_topic(7, 0)
    assert topic is None or topic.render_id is None
    with holding(new):  # the new holder goes on
        assert await b.mark_turn_sent(job)
        await b.set_render(7, 0, "render-new", 6)
    assert (topic := await a.get_topic(7, 0)) is not None and topic.render_id == "render-new"
    await b.release_chat(7, 0, "replica-b")
    await a.close()
    if b is not a:
        await b.close()


async def test_two_replicas_creating_a_chats_first_session_agree_on_one(pg_url: str) -> None:
    """Two replicas (two stores on one PostgreSQL) ask for the chat's first session at once:
    both may create one at the backend, but both must use the same one, or the uploads of
    one of them go to a session the chat never sees again."""
    backend = FakeBackend()
    await backend.start()
    backend.delays = {"create_session": 0.3}  # both are past the read before either saves
    stores = [await open_store(pg_url), await open_store(pg_url)]
    clients = [NemoClient(backend.url, version=__version__) for _ in stores]
    try:
        accounts = [Accounts(c, s, None) for c, s in zip(clients, stores, strict=True)]
        token = await accounts[0].token(11)
        first = await asyncio.gather(*(a.session(11, 0, "en", token=token) for a in accounts))
        assert first[0] == first[1]
        topic = await stores[1].get_topic(11, 0)
        assert topic is not None and topic.session_id == first[0]
        # The session is lost (1002) on both at once: one new session again, not two.
        again = await asyncio.gather(
            *(a.session(11, 0, "en", token=token, renew=True) for a in accounts))
        assert again[0] == again[1] != first[0]
    finally:
        for c in clients:
            await c.aclose()
        for s in stores:
            await s.close()
        await backend.stop()
