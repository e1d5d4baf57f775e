"""LOG_FORMAT=json: every line `python -m bot` writes is a JSON object, tracebacks included."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from bot.sandbox.backend import FakeBackend
from bot.sandbox.telegram import FakeTelegram
from tests.test_operator import TOKEN, launch

ALICE = 4242


async def test_a_whole_turn_with_a_failure_logs_one_json_object_per_line(
    tmp_path: Path,
) -> None:
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        proc = await launch(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url,
                            NEMO_API_URL=backend.url, LOG_FORMAT="json", LOG_LEVEL="DEBUG")
        try:
            await tg.send_text(ALICE, "/start")
            await tg.wait_for_message(ALICE, timeout=30)
            # The agent's answer cannot be delivered: the job fails with a traceback, and
            # the person is told something went wrong.
            tg.fail_next("sendMessage", 400, "Bad Request: boom")
            await tg.send_text(ALICE, "hello there")
            sorry = await tg.wait_for_message(ALICE, after=1, timeout=30)
            assert "wrong" in (sorry.text or "").lower()
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = await proc.communicate()
        token = next(iter(backend.tokens))
    assert proc.returncode == 0, err.decode()
    text = (out + err).decode()
    assert TOKEN not in text and token not in text and "OPERATOR-SECRET" not in text
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any("ready" in r["message"] for r in records)
    failed = [r for r in records if "traceback" in r]
    assert failed, "the failure's traceback is missing"
    assert "Traceback (most recent call last)" in failed[0]["traceback"]
    assert failed[0]["chat_id"] == ALICE and isinstance(failed[0]["job_id"], int)
    assert isinstance(failed[0]["update_id"], int)
    about_update = [r for r in records if r.get("update_id") and r.get("chat_id") == ALICE]
    assert len({r["update_id"] for r in about_update}) >= 1
    for record in records:
        assert "chat_id" not in record or record["chat_id"] == ALICE
