"""Updates Telegram considers delivered survive a crash (issue 10, found by the soak).

python-telegram-bot confirms a batch by polling for the next one while the handlers of the
batch may still be waiting (here: behind a /credits whose backend call hangs). The bot is a
real process killed with SIGKILL; the restarted bot must answer everything."""

from __future__ import annotations

import signal
from pathlib import Path

from bot.sandbox.backend import FakeBackend
from bot.sandbox.process import BotProcess
from bot.sandbox.telegram import FakeTelegram

TOKEN = "555:INBOX"
ALICE = 4001


async def test_confirmed_updates_are_answered_after_a_kill(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        bot = BotProcess(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": tg.url,
                                    "NEMO_API_URL": backend.url})
        await bot.start()
        try:
            await bot.wait_ready()
            await tg.send_text(ALICE, "hello")
            await tg.wait_for_message(ALICE, contains="hello", timeout=30)
            backend.slow["credits"] = 60
            await tg.send_text(ALICE, "/credits")
            await tg.send_text(ALICE, "tell me about the pacing")
            await tg.wait_for(lambda: backend.requests_to("credits") or None, timeout=30)
            # Telegram no longer holds either update: the bot asked for the next batch.
            await tg.wait_for(lambda: not tg.pending_updates() or None, timeout=30)
            assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
            backend.slow.clear()
            await bot.start()
            await tg.wait_for_message(ALICE, contains="pacing", timeout=30)
            await tg.wait_for_message(ALICE, contains="Credits", timeout=30)
            await tg.send_text(ALICE, "and the colours")
            await tg.wait_for_message(ALICE, contains="colours", timeout=30)
        finally:
            await bot.stop()
        answers = [m.text or "" for m in tg.messages(ALICE)]
        assert sum("pacing" in a for a in answers) == 1, answers
        assert sum("Credits" in a for a in answers) == 1, answers
        assert "Traceback" not in bot.log_text()
