"""The walking skeleton through the real Application: /start, a text turn, identity per chat."""

from __future__ import annotations

from bot import __version__
from bot.sandbox.backend import adk_call, adk_response, adk_text
from bot.sandbox.harness import Harness

ALICE = 1001
BOB = 1002


async def test_start_welcomes_with_examples(h: Harness) -> None:
    await h.tg.send_text(ALICE, "/start")
    message = await h.tg.wait_for_message(ALICE, contains="compress")
    assert "Send me a video" in (message.text or "")
    assert "without losing quality" in (message.text or "")
    assert h.backend.requests == []  # a welcome needs no backend


async def test_text_turn_is_relayed_with_typing_and_no_tool_frames(h: Harness) -> None:
    h.backend.queue_turn(
        [
            adk_call("compress_video", {"crf": 28}),
            adk_response("compress_video", {"ok": True}),
            adk_text("Hello ", partial=True),
            adk_text("there", partial=True),
            adk_text("Hello there, I can compress that."),
        ],
        delay=0.05,
    )
    await h.tg.send_text(ALICE, "what can you do?")
    reply = await h.tg.wait_for_message(ALICE)
    assert reply.text == "Hello there, I can compress that."
    assert "typing" in h.tg.chat_actions(ALICE)
    await h.idle()
    texts = [m.text or "" for m in h.tg.messages(ALICE)]
    assert not any("compress_video" in t or "{" in t for t in texts)
    session = next(iter(h.backend.sessions.values()))
    assert session.messages == ["what can you do?"]


async def test_every_backend_request_carries_attribution(h: Harness) -> None:
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE)
    await h.idle()
    assert h.backend.requests
    for request in h.backend.requests:
        assert request.headers["x-skill-source"] == "rtk-compressor-free"
        assert request.headers["x-skill-version"] == __version__
        assert request.headers["x-skill-platform"] == "telegram"


async def test_two_chats_get_two_tokens_and_sessions_reused_after_restart(h: Harness) -> None:
    await h.tg.send_text(ALICE, "hi from alice")
    await h.tg.send_text(BOB, "hi from bob")
    await h.tg.wait_for_message(ALICE)
    await h.tg.wait_for_message(BOB)
    await h.idle()
    assert len(h.backend.requests_to("anonymous_token")) == 2
    assert len(h.backend.requests_to("create_session")) == 2
    client_ids = {r.headers["x-client-id"] for r in h.backend.requests_to("anonymous_token")}
    assert len(client_ids) == 2

    await h.restart()
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "again")
    await h.tg.wait_for_message(ALICE, after=before)
    await h.idle()
    assert len(h.backend.requests_to("anonymous_token")) == 2
    assert len(h.backend.requests_to("create_session")) == 2
    alice_sessions = [s for s in h.backend.sessions.values() if "again" in s.messages]
    assert alice_sessions and alice_sessions[0].messages == ["hi from alice", "again"]
