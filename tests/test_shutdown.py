"""SIGTERM is a deploy, not a crash (issue 10): running turns finish, waiting ones are parked.

The bot runs as its own process (``python -m bot``); the fakes live in the test's process.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from bot.sandbox.backend import FakeBackend, adk_call, adk_text, sleep_frame
from bot.sandbox.process import BotProcess
from bot.sandbox.telegram import FakeTelegram

TOKEN = "987654:SHUTDOWN-SECRET"
ALICE = 5101


def bot_for(tmp_path: Path, tg: FakeTelegram, backend: FakeBackend, **extra: str) -> BotProcess:
    return BotProcess(tmp_path, {
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": tg.url, "NEMO_API_URL": backend.url,
        "STILL_WORKING_SECONDS": "30", "LOG_LEVEL": "INFO", **extra,
    })


def texts(tg: FakeTelegram) -> list[str]:
    return [m.text or "" for m in tg.messages(ALICE) if not m.deleted]


async def test_sigterm_mid_turn_lets_it_finish_and_parks_the_waiting_job(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        backend.queue_turn([adk_call("slow", {}), sleep_frame(3), adk_text("Trimmed it.")])
        bot = bot_for(tmp_path, tg, backend)
        await bot.start()
        try:
            await bot.wait_ready()
            await tg.send_text(ALICE, "trim the start")
            await tg.wait_for(lambda: backend.requests_to("run_sse"), timeout=30)
            await tg.send_text(ALICE, "then add music")
            await tg.wait_for_message(ALICE, contains="as soon as I finish", timeout=30)
            started = time.monotonic()
            code = await bot.stop(signal.SIGTERM)
            took = time.monotonic() - started
        finally:
            if bot.running:
                await bot.stop(signal.SIGKILL)
        log = bot.log_text()
        assert code == 0, log
        assert took < 10, log
        assert any("Trimmed it." in t for t in texts(tg)), texts(tg)
        assert len(backend.requests_to("run_sse")) == 1  # the waiting job was not started
        await bot.start()  # the parked job runs on the next start, the finished one never again
        try:
            # The answer to it (the line's notice names it too, and is removed once it runs).
            await tg.wait_for(lambda: [t for t in texts(tg) if "then add music" in t
                                       and "Queued" not in t] or None, timeout=30)
        finally:
            await bot.stop(signal.SIGTERM)
        assert not any("restarted" in t for t in texts(tg)), texts(tg)
        sessions = list(backend.sessions.values())
        assert [m for s in sessions for m in s.messages] == ["trim the start", "then add music"]


async def test_sigterm_parks_a_turn_longer_than_the_grace(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        backend.queue_turn([adk_call("slow", {}), sleep_frame(20), adk_text("never seen")])
        bot = bot_for(tmp_path, tg, backend, SHUTDOWN_GRACE_SECONDS="1")
        await bot.start()
        try:
            await bot.wait_ready()
            await tg.send_text(ALICE, "make it shorter")
            await tg.wait_for(lambda: backend.requests_to("run_sse"), timeout=30)
            started = time.monotonic()
            code = await bot.stop(signal.SIGTERM)
            took = time.monotonic() - started
        finally:
            if bot.running:
                await bot.stop(signal.SIGKILL)
        assert code == 0, bot.log_text()
        assert took < 5, bot.log_text()
        await bot.start()
        try:
            await tg.wait_for_message(ALICE, contains="restarted while working on", timeout=30)
        finally:
            await bot.stop(signal.SIGTERM)
        assert len(backend.requests_to("run_sse")) == 1  # never re-sent
        await asyncio.sleep(0)
