"""Two bot processes on one SQLite file (a rolling deploy on a shared volume) would both
resume the same jobs: the second one refuses to start, and ``check`` is never refused."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from bot.sandbox.backend import FakeBackend
from bot.sandbox.process import BotProcess
from bot.sandbox.telegram import FakeTelegram
from tests.test_check import _lines, check

TOKEN = "987654:SINGLE-SECRET"


async def test_a_second_process_on_the_same_database_exits_with_one_clear_line(
    tmp_path: Path,
) -> None:
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        settings = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": tg.url,
                    "NEMO_API_URL": backend.url}
        first = BotProcess(tmp_path, settings)
        other = tmp_path / "other"
        other.mkdir()
        second = BotProcess(other, {**settings,
                                    "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"})
        await first.start()
        try:
            await first.wait_ready()
            await second.start()
            code = await second.stop(signal.SIGCONT, timeout=30)  # only waits for the exit
            text = second.log_text()
            assert code == 1, text
            last = text.strip().splitlines()[-1]
            assert "another bot process is using the database" in last, text
            assert str(tmp_path / "bot.db") in last
            assert "Traceback" not in text and "SINGLE-SECRET" not in text
            # The container health check runs beside the bot: it reads the same file.
            code, out, err = await check(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN,
                                         TELEGRAM_API_URL=tg.url, NEMO_API_URL=backend.url,
                                         DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}")
            assert code == 0, out + err
            assert _lines(out)["database"].startswith("✓ "), out
            assert first.running
        finally:
            assert await first.stop(signal.SIGTERM) == 0
        # Once the first has gone, the next start takes the file over.
        await second.start()
        try:
            await second.wait_ready()
        finally:
            assert await second.stop(signal.SIGTERM) == 0
        await asyncio.sleep(0)
