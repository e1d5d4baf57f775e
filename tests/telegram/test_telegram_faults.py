"""Telegram itself failing, as the soak found it does (issue 10): a 502, an nginx HTML page,
a failed file download, a chat that blocked the bot. Answers must still arrive, and a chat
that is gone must not spill tracebacks or hold up other chats."""

from __future__ import annotations

import logging

import pytest

from bot.sandbox.harness import Harness

ALICE = 3001
BOB = 3002
GONE = 3003
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(10_000)


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info and r.name.startswith(("bot", "telegram.ext"))]


@pytest.mark.parametrize("html", [False, True], ids=["json-502", "html-page"])
async def test_answer_survives_a_bad_gateway_on_send(
    h: Harness, html: bool, caplog: pytest.LogCaptureFixture
) -> None:
    h.tg.fail_next("sendMessage", 502, "Bad Gateway", html=html)
    await h.tg.send_text(ALICE, "tell me about the pacing")
    reply = await h.tg.wait_for_message(ALICE, contains="pacing", timeout=15)
    assert "I can help with that" in (reply.text or "")
    failed = [c for c in h.tg.calls_of("sendMessage") if not c.ok]
    assert len(failed) == 1
    assert not tracebacks(caplog)


async def test_upload_survives_a_failed_file_download(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.tg.fail_next("file", 502, "Bad Gateway", html=True)
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4")
    ack = await h.tg.wait_for_message(ALICE, contains="Received", timeout=15)
    assert "clip.mp4" in (ack.text or "")
    assert not tracebacks(caplog)


async def test_a_chat_that_blocked_the_bot_is_dropped_quietly(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.tg.inject_faults(0, blocked_chats=[GONE])
    await h.tg.send_text(GONE, "tell me about the pacing")
    await h.tg.send_text(GONE, "/status")
    await h.tg.send_text(BOB, "and the colours")
    await h.tg.wait_for_message(BOB, contains="colours", timeout=15)
    await h.idle()
    assert h.tg.faults_injected["403"] >= 2
    assert not [m for m in h.tg.messages(GONE) if not m.deleted]
    assert not tracebacks(caplog)
    assert not await h.runtime.svc.store.chats_with_work()


async def test_upload_waits_out_a_flood_limit_on_the_download(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.tg.fail_next("file", 429, "Too Many Requests: retry after 1", retry_after=1)
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4")
    ack = await h.tg.wait_for_message(ALICE, contains="Received", timeout=15)
    assert "clip.mp4" in (ack.text or "")
    assert not tracebacks(caplog)


async def test_failed_polls_are_retried_without_alarm(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.tg.fail_next("getUpdates", 502, "Bad Gateway", html=True)
    h.tg.fail_next("getUpdates", 502, "Bad Gateway")
    await h.tg.send_text(ALICE, "tell me about the pacing")
    await h.tg.wait_for_message(ALICE, contains="pacing", timeout=20)
    assert len([c for c in h.tg.calls_of("getUpdates") if not c.ok]) == 2
    assert not tracebacks(caplog)
    assert not h.tg.messages(ALICE)[0].text.startswith("Sorry")  # type: ignore[union-attr]


async def test_admin_check_waits_out_a_flood_limit(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    group = -100_300
    h.tg.set_admins(group, [ALICE])
    h.tg.fail_next("getChatMember", 429, "Too Many Requests: retry after 1", retry_after=1)
    await h.tg.send_text(group, "/cancel", user=ALICE)
    reply = await h.tg.wait_for_message(group, contains="Nothing is running", timeout=15)
    assert reply.text
    assert not tracebacks(caplog)
