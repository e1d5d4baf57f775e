"""A kill between Telegram taking a message and the bot recording it (issue 10, found by the
soak): after the restart the job must not send that message again, nor leave the request
without a word. The fake Telegram carries out the call and holds its answer back
(``stall_next``); the bot (its own process) is SIGKILLed meanwhile.

Policy (bot/conversation/outbox.py, docs/architecture.md): a video that may have arrived is
not sent again (a notice with its download link instead); any other message that may have
arrived is replaced by one "may be missing above" notice; progress is at most once.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.sandbox.backend import FakeBackend, adk_call, adk_text, make_draft, sleep_frame
from bot.sandbox.process import BotProcess
from bot.sandbox.telegram import BotMessage, FakeTelegram

TOKEN = "987654:RESTART-SECRET"
ALICE = 5201


@asynccontextmanager
async def running(tmp_path: Path, **extra: str) -> AsyncIterator[
    tuple[FakeTelegram, FakeBackend, BotProcess]
]:
    async with FakeTelegram(TOKEN) as tg, FakeBackend(render_size=20_000) as backend:
        bot = BotProcess(tmp_path, {
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": tg.url,
            "NEMO_API_URL": backend.url, "RENDER_POLL_SECONDS": "0.2", "LOG_LEVEL": "INFO",
            **extra,
        })
        await bot.start()
        try:
            await bot.wait_ready()
            yield tg, backend, bot
        finally:
            if bot.running:
                await bot.stop(signal.SIGKILL)


async def kill_and_restart(bot: BotProcess) -> None:
    assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
    await bot.start()
    await bot.wait_ready()


def live(tg: FakeTelegram) -> list[BotMessage]:
    return [m for m in tg.messages(ALICE) if not m.deleted]


def containing(tg: FakeTelegram, text: str) -> list[BotMessage]:
    return [m for m in live(tg) if text in (m.text or "")]


async def test_a_video_taken_by_telegram_before_the_kill_is_not_sent_again(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (tg, backend, bot):
        await tg.send_video(ALICE, b"\x00" * 4096, file_name="a.mp4")
        await tg.wait_for_message(ALICE, contains="Received", timeout=30)
        session = next(iter(backend.sessions.values()))
        backend.set_draft(session.session_id, make_draft())
        tg.stall_next("sendVideo", 60)  # Telegram has the video; the bot hears nothing yet
        await tg.send_text(ALICE, "/export")
        await tg.wait_for(lambda: [m for m in live(tg) if m.kind == "video"], timeout=30)
        await kill_and_restart(bot)
        notice = await tg.wait_for_message(ALICE, contains="just as I sent your video",
                                           timeout=30)
        await tg.send_text(ALICE, "/start")  # a later update: the resumed job is over by then
        await tg.wait_for_message(ALICE, contains="I compress and edit videos", timeout=30)
        log = bot.log_text()
    assert [m.kind for m in live(tg)].count("video") == 1, log
    assert [str(b.get("url")).startswith(backend.url) for b in notice.buttons] == [True]
    assert "http" not in (notice.text or "")  # the link is a button, not a second delivery
    assert len(backend.requests_to("render")) == 1, "the finished render was not made again"


async def test_an_acknowledgement_taken_before_the_kill_is_not_sent_again(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as (tg, backend, bot):
        # Set up first: a first contact's acknowledgement is its setup line, edited.
        await tg.send_text(ALICE, "/start")
        await tg.wait_for_message(ALICE, contains="I compress and edit videos", timeout=30)
        tg.stall_next("sendMessage", 60)  # the job's first message: "📥 Received 1 file…"
        await tg.send_video(ALICE, b"\x00" * 4096, file_name="a.mp4")
        await tg.wait_for(lambda: containing(tg, "Received"), timeout=30)
        await kill_and_restart(bot)
        notice = await tg.wait_for_message(ALICE, contains="just as I answered", timeout=30)
        await tg.send_text(ALICE, "/start")
        await tg.wait_for_message(ALICE, contains="I compress and edit videos", timeout=30)
        log = bot.log_text()
    assert len(containing(tg, "Received 1 file")) == 1, log
    assert "/status" in (notice.text or "")
    assert len(backend.requests_to("upload")) == 1, "the upload was not repeated"


async def test_the_restart_notice_is_not_repeated_by_a_second_restart(tmp_path: Path) -> None:
    async with running(tmp_path, SHUTDOWN_GRACE_SECONDS="1") as (tg, backend, bot):
        backend.queue_turn([adk_call("slow", {}), sleep_frame(30), adk_text("never seen")])
        await tg.send_text(ALICE, "make it shorter")
        await tg.wait_for(lambda: backend.requests_to("run_sse"), timeout=30)
        assert await bot.stop(signal.SIGTERM) == 0  # the turn is parked, already sent
        tg.stall_next("sendMessage", 60)  # the notice that says so, taken but unanswered
        await bot.start()
        await tg.wait_for(lambda: containing(tg, "restarted while working on"), timeout=30)
        await kill_and_restart(bot)
        await tg.send_text(ALICE, "/start")
        await tg.wait_for_message(ALICE, contains="I compress and edit videos", timeout=30)
        log = bot.log_text()
    assert len(containing(tg, "restarted while working on")) == 1, log
    assert len(backend.requests_to("run_sse")) == 1  # never re-sent


async def test_a_direct_answer_taken_before_the_kill_is_not_given_again(tmp_path: Path) -> None:
    # /status is answered by its handler, not a job: after the kill the inbox hands the update
    # to the handlers again, which must not answer it twice.
    async with running(tmp_path) as (tg, _backend, bot):
        tg.stall_next("sendMessage", 60)
        await tg.send_text(ALICE, "/status")
        await tg.wait_for(lambda: containing(tg, "Your project is empty"), timeout=30)
        await kill_and_restart(bot)
        notice = await tg.wait_for_message(ALICE, contains="just as I answered", timeout=30)
        await tg.send_text(ALICE, "/start")
        await tg.wait_for_message(ALICE, contains="I compress and edit videos", timeout=30)
        log = bot.log_text()
    assert len(containing(tg, "Your project is empty")) == 1, log
    assert "handled now" in log  # the update was handed over again, and answered once
    assert notice.message_id > containing(tg, "Your project is empty")[0].message_id
