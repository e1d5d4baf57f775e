"""Two bot replicas in webhook mode on one PostgreSQL, sharing one Telegram and one backend:
a chat is worked by one replica at a time, in order; /cancel reaches the replica running
the job; a replica that stops mid-job leaves its chat to the other, under the restart rules
(a turn already sent is never re-sent, a render in flight is delivered)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.backend import adk_call, adk_text, sleep_frame
from bot.sandbox.harness import Harness
from bot.store.claims import Fence

ALICE = 3001
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(300_000)
COMPRESS = "compress this video to a smaller file size without losing quality"


@contextlib.asynccontextmanager
async def replicas(
    tmp_path: Path, pg_url: str, lease: float
) -> AsyncIterator[tuple[Harness, Harness]]:
    """Replica A starts first; replica B joins on the same database and fakes, and (like a
    load balancer's new target) receives the updates from then on."""
    options = {"database_url": pg_url, "webhook_url": "https://bot.example.org/hook",
               "webhook_secret": "replica-secret", "replica_lease_seconds": lease, "port": 0}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Harness(tmp_path / "a", **options)
    await a.start()
    b = Harness(tmp_path / "b", **options)
    b.tg, b.backend = a.tg, a.backend
    try:
        yield a, b
    finally:
        await b.stop_bot()
        await a.stop()


@pytest.fixture
async def pair(tmp_path: Path, pg_url: str) -> AsyncIterator[tuple[Harness, Harness]]:
    async with replicas(tmp_path, pg_url, lease=1.5) as both:
        yield both


def texts(h: Harness) -> list[str]:
    return [m.text or "" for m in h.tg.messages(ALICE) if not m.deleted]


async def test_a_chat_stays_in_order_and_moves_to_the_other_replica(
    pair: tuple[Harness, Harness],
) -> None:
    a, b = pair
    a.backend.queue_turn([adk_call("slow", {}), sleep_frame(5), adk_text("never seen")])
    await a.tg.send_text(ALICE, "one")  # A receives it and works it
    await a.tg.wait_for(lambda: a.backend.requests_to("run_sse"), timeout=10)
    await b.start_bot()
    await b.tg.send_text(ALICE, "two")  # B receives it: A holds the chat, so it waits
    await asyncio.sleep(1.0)
    assert next(iter(a.backend.sessions.values())).messages == ["one"]
    await a.stop_bot()  # A goes away mid-turn ("one" was sent to the agent)
    await b.tg.wait_for_message(ALICE, contains="restarted while working on “one”", timeout=10)
    await b.tg.wait_for_message(ALICE, contains='"two"', timeout=10)
    assert next(iter(b.backend.sessions.values())).messages == ["one", "two"]  # not re-sent


async def test_cancel_received_by_one_replica_stops_the_other(
    pair: tuple[Harness, Harness],
) -> None:
    a, b = pair
    a.backend.queue_turn([adk_call("slow", {}), sleep_frame(4), adk_text("too late")])
    await a.tg.send_text(ALICE, "slow please")
    await a.tg.wait_for(lambda: a.backend.requests_to("run_sse"), timeout=10)
    started = time.monotonic()
    await b.start_bot()
    await b.tg.send_text(ALICE, "/cancel")  # B gets it; A runs the turn
    await b.tg.wait_for_message(ALICE, contains="Stopped", timeout=10)
    await a.tg.wait_for(lambda: not a.runtime.queue.busy(ALICE, 0), timeout=5)
    before = len(b.tg.messages(ALICE))
    await b.tg.send_text(ALICE, "next thing")
    await b.tg.wait_for_message(ALICE, after=before, contains="next thing", timeout=10)
    await asyncio.sleep(max(0.0, 4.5 - (time.monotonic() - started)))
    assert not any("too late" in t for t in texts(b))


async def test_a_render_in_flight_is_delivered_by_the_other_replica(
    pair: tuple[Harness, Harness],
) -> None:
    a, b = pair
    a.backend.render_polls = 1000
    await a.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", duration=12, caption=COMPRESS)
    await a.tg.wait_for(lambda: a.backend.renders, timeout=15)
    await asyncio.sleep(0.3)
    await b.start_bot()
    await a.stop_bot()
    b.backend.render_polls = 1
    await b.tg.wait_for_message(ALICE, kind="video", timeout=15)
    assert len(b.backend.requests_to("render")) == 1  # polled, not rendered again


async def test_a_job_stored_as_the_other_replica_lets_go_is_not_left_waiting(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B stores "two" while A, done with "one", is still letting go of the chat: B cannot
    claim it, and A's lease is gone a moment later. The job must not wait for the next
    sweep (a third of a 30 s lease) to be picked up."""
    async with replicas(tmp_path, pg_url, lease=30) as (a, b):
        store = a.runtime.svc.store
        release = store.release_chat

        async def slow_release(chat_id: int, thread_id: int, owner: str,
                               fence: Fence | None = None) -> None:
            await asyncio.sleep(1.0)  # a slow round trip to the database
            await release(chat_id, thread_id, owner, fence)

        monkeypatch.setattr(store, "release_chat", slow_release)
        await b.start_bot()
        a.tg.webhook_url = a.webhook_url  # "one" reaches A
        await a.tg.send_text(ALICE, "one")
        await a.tg.wait_for_message(ALICE, contains='"one"', timeout=10)
        a.tg.webhook_url = b.webhook_url  # "two" reaches B while A is letting go
        before = len(a.tg.messages(ALICE))
        await a.tg.send_text(ALICE, "two")
        sent = time.monotonic()
        await a.tg.wait_for_message(ALICE, after=before, contains='"two"', timeout=15)
        assert time.monotonic() - sent < 4, "the job waited for a sweep"


async def test_a_worker_letting_go_does_not_drop_the_lease_of_the_next_one(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """"two" arrives while the worker that answered "one" is still letting go of the chat.
    The next worker of the same replica must not start on a lease the first one is about to
    delete: the chat would be left unclaimed mid-turn, stopped as "lease lost" and resumed
    as interrupted ("restarted while working") instead of being answered."""
    async with replicas(tmp_path, pg_url, lease=1.5) as (a, _b):
        store = a.runtime.svc.store
        release = store.release_chat

        async def slow_release(chat_id: int, thread_id: int, owner: str,
                               fence: Fence | None = None) -> None:
            await asyncio.sleep(0.5)  # a slow round trip to the database
            await release(chat_id, thread_id, owner, fence)

        monkeypatch.setattr(store, "release_chat", slow_release)
        await a.tg.send_text(ALICE, "one")
        await a.tg.wait_for_message(ALICE, contains='"one"', timeout=10)
        a.backend.queue_turn([adk_call("slow", {}), sleep_frame(2), adk_text("two is done")])
        await a.tg.send_text(ALICE, "two")
        await a.tg.wait_for_message(ALICE, contains="two is done", timeout=15)
        await a.idle()
        assert not any("restarted while working" in t for t in texts(a))
        assert next(iter(a.backend.sessions.values())).messages == ["one", "two"]
