"""`python -m bot` exactly as an operator starts it, against the fakes: live, private, quiet."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import sys
from pathlib import Path

from bot.sandbox.backend import FakeBackend
from bot.sandbox.telegram import FakeTelegram

TOKEN = "987654:OPERATOR-SECRET"
ROOT = Path(__file__).parent.parent


async def launch(cwd: Path, **settings: str) -> asyncio.subprocess.Process:
    """`python -m bot` with only these settings, as an operator's shell would start it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NEMO_"))}
    env.pop("DATABASE_URL", None)
    env.update(settings, PYTHONPATH=str(ROOT))
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def test_operator_start_answers_keeps_secrets_out_of_logs(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        proc = await launch(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url,
                            NEMO_API_URL=backend.url, LOG_LEVEL="DEBUG")
        try:
            await tg.send_text(77, "/start")
            await tg.wait_for_message(77, timeout=30)
            await tg.send_text(77, "hello there")
            reply = await tg.wait_for_message(77, after=1, timeout=30)
            assert "hello there" in (reply.text or "")
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        logs = (out + err).decode()
        assert proc.returncode == 0, logs
        token = next(iter(backend.tokens))
        assert TOKEN not in logs and token not in logs and "OPERATOR-SECRET" not in logs
        assert "ready" in logs  # the operator sees the bot come up
        db = tmp_path / "data" / "bot.db"
        assert db.exists()
        assert stat.S_IMODE(db.stat().st_mode) == 0o600


async def test_rejected_token_is_one_clear_line(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as tg:
        proc = await launch(tmp_path, TELEGRAM_BOT_TOKEN="111:WRONG-SECRET",
                            TELEGRAM_API_URL=tg.url)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = (out + err).decode()
    assert proc.returncode == 2
    assert "TELEGRAM_BOT_TOKEN was rejected" in text.strip().splitlines()[-1]
    assert "WRONG-SECRET" not in text and "Traceback" not in text


async def test_unreachable_bot_api_is_one_clear_line(tmp_path: Path) -> None:
    proc = await launch(tmp_path, TELEGRAM_BOT_TOKEN="111:SECRET",
                        TELEGRAM_API_URL="http://127.0.0.1:9")
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = (out + err).decode()
    assert proc.returncode == 1
    assert "cannot reach the Bot API at http://127.0.0.1:9" in text
    assert "SECRET" not in text and "Traceback" not in text


async def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    """The health port is taken: one line naming it, exit code 1, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with FakeTelegram(TOKEN) as tg:
            proc = await launch(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url,
                                HEALTH_PORT=str(port))
            out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = (out + err).decode()
    assert proc.returncode == 1, text
    assert "cannot listen on" in text and str(port) in text.strip().splitlines()[-1]
    assert "Traceback" not in text


async def test_webhook_mode_at_debug_logs_no_secret(tmp_path: Path) -> None:
    """At DEBUG every library logs its requests (python-telegram-bot, httpx, aiohttp): the
    bot token, the generated webhook secret and the backend token still never appear."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        proc = await launch(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url,
                            NEMO_API_URL=backend.url, LOG_LEVEL="DEBUG",
                            WEBHOOK_URL=f"http://127.0.0.1:{port}/hook", PORT=str(port))
        try:
            await tg.send_text(78, "hello there")
            await tg.wait_for_message(78, contains="hello there", timeout=40)
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        logs = (out + err).decode()
        (hook,) = [c for c in tg.calls_of("setWebhook") if c.params.get("secret_token")]
        secret = str(hook.params["secret_token"])
        token = next(iter(backend.tokens))
        assert "webhook" in logs.lower()
        for value in (TOKEN, "OPERATOR-SECRET", secret, token):
            assert value not in logs, f"{value[:4]}… is in the log"


async def test_debug_logs_carry_no_bind_id(tmp_path: Path) -> None:
    """The register link (``?bind=<anonymous user id>``) claims a chat's anonymous account
    for whoever opens it: it goes to its own chat only, never to the log, even at DEBUG where
    python-telegram-bot logs every request's parameters."""
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        proc = await launch(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url,
                            NEMO_API_URL=backend.url, LOG_LEVEL="DEBUG")
        try:
            backend.fail("run_sse", 2001, message="insufficient credits")
            await tg.send_text(79, "make it smaller")
            link = await tg.wait_for_message(79, contains="bind=", timeout=40)
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        logs = (out + err).decode()
        text = (link.text or "") + str(link.reply_markup or "")
        bind = text.split("bind=", 1)[1][:21]
        assert bind.startswith("anon_") and len(bind) == 21
        assert "sendMessage" in logs  # requests are logged, with their parameters
        assert bind not in logs, "a bind id is in the log"
