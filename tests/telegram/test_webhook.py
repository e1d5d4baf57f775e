"""Webhook mode through the real Application: Telegram POSTs, the secret decides."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from bot.sandbox.harness import Harness

ALICE = 1001
SECRET = "right-Secret_123"


@pytest.fixture
async def wh(tmp_path: Path) -> AsyncIterator[Harness]:
    harness = Harness(tmp_path, webhook_url="https://bot.example.org/tg/hook",
                      webhook_secret=SECRET)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


async def _until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.02)


async def test_registers_webhook_with_secret_and_only_handled_update_types(wh: Harness) -> None:
    assert wh.tg.webhook_url == wh.webhook_url
    assert wh.webhook_url.endswith("/tg/hook")
    assert wh.tg.webhook_secret == SECRET
    assert wh.tg.webhook_allowed_updates == ["message", "callback_query"]


async def test_update_with_the_right_secret_is_answered(wh: Harness) -> None:
    wh.backend.queue_turn([])  # default answer
    await wh.tg.send_text(ALICE, "/start")
    welcome = await wh.tg.wait_for_message(ALICE, contains="compress")
    assert "Send me a video" in (welcome.text or "")
    await wh.tg.send_text(ALICE, "make it smaller")
    reply = await wh.tg.wait_for_message(ALICE, after=1)
    assert reply.text
    assert wh.backend.requests  # the turn reached the backend
    assert {status for _, status in wh.tg.webhook_deliveries} == {200}


async def test_missing_or_wrong_secret_is_refused_and_not_processed(wh: Harness) -> None:
    for forged in ("wrong-secret", None):
        wh.tg.webhook_secret = forged
        before = len(wh.tg.webhook_deliveries)
        await wh.tg.send_text(ALICE, "/start")
        await _until(lambda before=before: len(wh.tg.webhook_deliveries) >= before + 2)
        assert {s for _, s in wh.tg.webhook_deliveries[before:]} == {403}
        assert wh.tg.messages(ALICE) == []
        assert await wh.runtime.svc.store.count_unfinished() == 0
        assert await wh.runtime.svc.store.get_chat(ALICE) is None
        assert wh.tg.pending_updates()  # still queued at "Telegram", retried later
    # A POST straight to the bot without the header is refused too.
    async with httpx.AsyncClient() as client:
        response = await client.post(wh.webhook_url, json={"update_id": 99})
    assert response.status_code == 403
    wh.tg.webhook_secret = SECRET  # the retries now carry the right secret
    await wh.tg.wait_for_message(ALICE, contains="compress")


async def test_generated_secret_is_used_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with Harness(tmp_path, webhook_url="https://bot.example.org/hook") as harness:
        secret = harness.tg.webhook_secret
        assert secret and len(secret) >= 32
        await harness.tg.send_text(ALICE, "/start")
        await harness.tg.wait_for_message(ALICE, contains="compress")
    assert "generated" in caplog.text
    assert secret not in caplog.text


async def test_switching_back_to_polling_deletes_the_webhook(wh: Harness) -> None:
    assert wh.tg.webhook_url
    await wh.stop_bot()
    await wh.tg.send_text(ALICE, "/start")  # arrives while the bot is down
    wh.overrides.pop("webhook_url")
    await wh.start_bot()
    assert wh.tg.webhook_url == ""
    assert any(c.method == "deleteWebhook" for c in wh.tg.calls)
    await wh.tg.wait_for_message(ALICE, contains="compress")  # then polled and answered


async def test_the_job_is_stored_before_the_post_is_answered(wh: Harness) -> None:
    import sqlite3

    wh.backend.queue_turn([], delay=1.0)  # the turn itself is still running afterwards
    before = len(wh.tg.webhook_deliveries)
    await wh.tg.send_text(ALICE, "make it smaller")
    await _until(lambda: len(wh.tg.webhook_deliveries) > before)
    update_id, status = wh.tg.webhook_deliveries[before]
    assert status == 200
    with sqlite3.connect(wh.workdir / "bot.db") as db:
        keys = [row[0] for row in db.execute("SELECT dedupe_key FROM jobs")]
    assert f"update:{update_id}" in keys
    await wh.tg.wait_for_message(ALICE)


async def test_a_secret_header_that_is_not_utf8_is_refused_in_one_line(
    wh: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Bytes that are not UTF-8 in the secret header: 403 and one log line, no traceback
    (it answered 500 with a traceback per POST)."""
    caplog.set_level(logging.INFO)
    url = httpx.URL(wh.webhook_url)
    host, port = url.host, url.port or 80
    body = b'{"update_id": 5}'
    request = (
        f"POST {url.raw_path.decode()} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    ).encode() + b"X-Telegram-Bot-Api-Secret-Token: \xff\xfe" + SECRET.encode()[2:] + (
        b"\r\nConnection: close\r\n\r\n" + body
    )
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    writer.close()
    assert status_line.split()[1] == b"403", status_line
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text
    refused = [r for r in caplog.records if "secret" in r.getMessage()]
    assert len(refused) == 1
