"""Hardening of how updates are taken in (issue 23, items 1 and 15): a store that fails while
an update arrives, and health answered without the database. Through the real Application
against the fakes; the store fails at a real boundary, a second SQLite connection holding
the database's write lock (as a backup tool or a stray second process would)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from bot.sandbox.harness import Harness

ALICE = 3201
SECRET = "intake-Secret_1"
WELCOME = "compress"


@contextlib.contextmanager
def write_locked(db: Path) -> Iterator[sqlite3.Connection]:
    """The database's write lock held by another connection: the bot's writes fail with
    "database is locked" after its busy timeout."""
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        yield locker
    finally:
        locker.rollback()
        locker.close()


async def until(predicate: Callable[[], Any], timeout: float = 40) -> None:
    async with asyncio.timeout(timeout):
        for _ in iter(int, 1):  # until it holds (the health endpoint is asked, not watched)
            if await predicate():
                return
            await asyncio.sleep(0.1)


async def health(h: Harness, timeout: float = 10) -> int:
    async with httpx.AsyncClient(timeout=timeout) as client:
        return (await client.get(f"{h.web_url}/healthz")).status_code


def texts(h: Harness, chat: int = ALICE) -> list[str]:
    return [m.text or "" for m in h.tg.messages(chat) if not m.deleted]


def welcomes(h: Harness) -> int:
    return len([t for t in texts(h) if WELCOME in t])


# -- item 1: an update is confirmed to Telegram only once it is stored ---------------------


async def test_a_polled_update_is_confirmed_only_once_stored_and_healthz_tells(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, health_port=0) as h:
        assert await health(h) == 200
        with write_locked(tmp_path / "bot.db"):
            await h.tg.send_text(ALICE, "/start")
            update_id = h.tg.pending_updates()[-1]["update_id"]

            async def unhealthy() -> bool:
                return await health(h) == 503

            await until(unhealthy)
            # Not confirmed: no getUpdates asked for anything past it while it was not stored.
            offsets = [c.params.get("offset") or 0 for c in h.tg.calls_of("getUpdates")]
            assert max(offsets) <= update_id
            assert welcomes(h) == 0
        await h.tg.wait_for(lambda: welcomes(h) == 1, timeout=40)

        async def healthy() -> bool:
            return await health(h) == 200

        await until(healthy)
        await h.idle()
        assert welcomes(h) == 1
        assert not any("went wrong" in t for t in texts(h))


async def test_a_polled_update_whose_handling_meets_a_locked_store_is_handled_later(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, health_port=0) as h:
        order = h.app.update_processor if h.app else None
        store = h.runtime.svc.store
        claim = store.claim_update
        locker: sqlite3.Connection | None = None

        # Stored in the inbox, then the store locks just as the handlers start writing. The
        # hook only chooses the moment; the failure is the database's own.
        async def claim_then_lock(update_id: int) -> bool:
            nonlocal locker
            claimed = await claim(update_id)
            if locker is None:
                locker = sqlite3.connect(tmp_path / "bot.db", isolation_level=None)
                locker.execute("BEGIN IMMEDIATE")
            return claimed

        store.claim_update = claim_then_lock  # type: ignore[method-assign]
        assert order is not None
        try:
            h.backend.queue_turn([])
            await h.tg.send_text(ALICE, "make it smaller please")

            async def unhealthy() -> bool:
                return await health(h) == 503

            await until(unhealthy)
            assert locker is not None
            locker.rollback()
            locker.close()
            await h.tg.wait_for(lambda: len(h.backend.requests_to("run_sse")) == 1, timeout=40)
            await h.idle(timeout=40)
            assert len(h.backend.requests_to("run_sse")) == 1
            assert not any("went wrong" in t for t in texts(h))
        finally:
            if locker is not None:
                locker.close()


async def test_a_webhook_update_the_store_cannot_take_is_refused_and_redelivered(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, webhook_url="https://bot.example.org/tg/hook",
                       webhook_secret=SECRET) as h:
        with write_locked(tmp_path / "bot.db"):
            await h.tg.send_text(ALICE, "/start")

            async def refused() -> bool:
                return any(status >= 500 for _, status in h.tg.webhook_deliveries)

            await until(refused)
            assert await health(h) == 503
        await h.tg.wait_for(lambda: welcomes(h) == 1, timeout=40)
        await h.idle()
        assert welcomes(h) == 1
        assert h.tg.webhook_deliveries[-1][1] == 200
        assert not any("went wrong" in t for t in texts(h))


# -- item 15: /healthz and /metrics answer from memory, bounded in time ---------------------


async def test_healthz_and_metrics_answer_while_the_stores_connection_is_busy(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, health_port=0) as h:
        with write_locked(tmp_path / "bot.db"):
            before = len(h.tg.calls_of("getUpdates"))
            await h.tg.send_text(ALICE, "/start")
            # The batch reached the bot: its write now holds the store's one connection for
            # the busy timeout (5 s). Health must not queue behind it.
            await h.tg.wait_for(
                lambda: any(c.result for c in h.tg.calls_of("getUpdates")[before:]), timeout=10
            )
            async with httpx.AsyncClient(timeout=4) as client:
                status = (await client.get(f"{h.web_url}/healthz")).status_code
                assert status in (200, 503)
                assert (await client.get(f"{h.web_url}/metrics")).status_code == 200
        await h.tg.wait_for(lambda: welcomes(h) == 1, timeout=40)


async def test_metrics_can_be_kept_off_the_public_port(tmp_path: Path) -> None:
    async with Harness(tmp_path, webhook_url="https://bot.example.org/tg/hook",
                       webhook_secret=SECRET, health_port=0,
                       metrics_health_port_only=True) as h:
        assert h.serving is not None and h.serving.health is not None
        public = h.web_url
        private = f"http://127.0.0.1:{h.serving.health.port}"
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{public}/metrics")).status_code == 404
            assert (await client.get(f"{private}/metrics")).status_code == 200
            assert (await client.get(f"{public}/healthz")).status_code == 200
            assert (await client.get(f"{private}/healthz")).status_code == 200
        await h.tg.send_text(ALICE, "/start")  # the webhook still works on the public port
        await h.tg.wait_for(lambda: welcomes(h) == 1)
