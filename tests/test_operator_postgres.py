"""`python -m bot` with ``DATABASE_URL=postgresql://…`` as an operator starts it: it answers
on the shared database, and the database password never reaches a log line."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.sandbox.backend import FakeBackend
from bot.sandbox.telegram import FakeTelegram
from bot.store import open_store
from bot.store.pg_migrations import PG_MIGRATIONS

TOKEN = "987654:OPERATOR-SECRET"
ROOT = Path(__file__).parent.parent


async def launch(cwd: Path, *args: str, **settings: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NEMO_"))}
    env.update(settings, PYTHONPATH=str(ROOT))
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def test_operator_runs_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    # The test server trusts loopback, so any password is accepted: it must still be hidden.
    url = pg_url.replace("postgres@", "postgres:DB-SECRET-PW@")
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        proc = await launch(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url,
                            NEMO_API_URL=backend.url, DATABASE_URL=url, LOG_LEVEL="DEBUG")
        try:
            await tg.send_text(77, "hello there")
            await tg.wait_for_message(77, contains="hello there", timeout=30)
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    logs = (out + err).decode()
    assert proc.returncode == 0, logs
    assert "DB-SECRET-PW" not in logs and "OPERATOR-SECRET" not in logs
    assert not (tmp_path / "data").exists()  # no SQLite file on the side
    store = await open_store(pg_url)
    chat = await store.get_chat(77)
    await store.close()
    assert chat is not None and chat.token in backend.tokens


async def test_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as tg:
        proc = await launch(
            tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url,
            DATABASE_URL="postgresql://bot:DB-SECRET-PW@127.0.0.1:9/bot",
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = (out + err).decode()
    assert proc.returncode == 1, text
    last = text.strip().splitlines()[-1]
    assert last.startswith("startup error: cannot reach the database at")
    assert "postgresql://bot:***@127.0.0.1:9/bot" in last
    assert "DB-SECRET-PW" not in text and "Traceback" not in text


async def test_check_reports_postgresql_without_its_password(
    tmp_path: Path, pg_url: str
) -> None:
    url = pg_url.replace("postgres@", "postgres:DB-SECRET-PW@")
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        proc = await launch(tmp_path, "check", TELEGRAM_BOT_TOKEN=TOKEN,
                            TELEGRAM_API_URL=tg.url, NEMO_API_URL=backend.url, DATABASE_URL=url)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
        bad = await launch(tmp_path, "check", TELEGRAM_BOT_TOKEN=TOKEN,
                           TELEGRAM_API_URL=tg.url, NEMO_API_URL=backend.url,
                           DATABASE_URL="postgresql://bot:DB-SECRET-PW@127.0.0.1:9/bot")
        bad_out, bad_err = await asyncio.wait_for(bad.communicate(), timeout=90)
    text = (out + err).decode()
    assert proc.returncode == 0, text
    database = next(line for line in text.splitlines() if "database:" in line)
    assert database.startswith("✓ database: PostgreSQL at postgresql://postgres:***@")
    assert f"schema version {len(PG_MIGRATIONS)}," in database
    bad_text = (bad_out + bad_err).decode()
    assert bad.returncode != 0
    assert "✗ database: cannot reach the database at postgresql://bot:***@127.0.0.1:9/bot" in (
        bad_text
    )
    assert "DB-SECRET-PW" not in text + bad_text and "Traceback" not in text + bad_text


async def test_a_second_polling_process_on_one_database_is_refused(
    tmp_path: Path, pg_url: str
) -> None:
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        settings = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": tg.url,
                    "NEMO_API_URL": backend.url, "DATABASE_URL": pg_url}
        first = await launch(tmp_path, **settings)
        try:
            await tg.send_text(77, "one")
            await tg.wait_for_message(77, contains="one", timeout=30)  # first is polling
            second = await launch(tmp_path, **settings)
            out, err = await asyncio.wait_for(second.communicate(), timeout=60)
            text = (out + err).decode()
            assert second.returncode == 1, text
            assert text.strip().splitlines()[-1] == (
                "startup error: another bot process is already polling with this "
                "DATABASE_URL; run several replicas in webhook mode (WEBHOOK_URL)"
            )
            assert "Traceback" not in text
            await tg.send_text(77, "two")  # the first one keeps serving
            await tg.wait_for_message(77, contains="two", timeout=30)
        finally:
            first.send_signal(signal.SIGINT)
            await asyncio.wait_for(first.communicate(), timeout=30)
