"""The walking skeleton through the real Application: /start, a text turn, identity per chat."""

from __future__ import annotations

import time

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
    # First contact connects to the backend (the seed's "Setting up..."), edited into this.
    assert message.edits == ["⚙️ Setting up…"]
    assert [r.endpoint for r in h.backend.requests] == ["anonymous_token", "create_session"]


async def test_text_turn_is_relayed_with_typing_and_no_tool_frames(h: Harness) -> None:
    h.backend.queue_turn(
        [
            adk_call("compress_video", {"crf": 28}),
            adk_response("compress_video", {"ok": True}),
            adk_text("Hello ", partial=True),
            adk_text("there", partial=True),
            adk_text("Hello there, I can compress that."),
        ],
        delay=0.2,  # 0.6 s: longer than the typing delay
    )
    await h.tg.send_text(ALICE, "what can you do?")
    reply = await h.tg.wait_for_message(ALICE, contains="Hello there,")
    assert reply.text == "Hello there, I can compress that."
    assert "typing" in h.tg.chat_actions(ALICE)
    await h.idle()
    texts = [m.text or "" for m in h.tg.messages(ALICE)]
    assert not any("compress_video" in t or "{" in t for t in texts)
    session = next(iter(h.backend.sessions.values()))
    assert session.messages == ["what can you do?"]


async def test_a_turn_answered_at_once_sends_no_typing(h: Harness) -> None:
    """Work done within Timing.typing_delay needs no indicator (and no Bot API call)."""
    await h.tg.send_text(ALICE, "hello")  # first contact: token and session, not timed
    await h.tg.wait_for_message(ALICE, contains="hello")
    await h.idle()
    actions = len(h.tg.chat_actions(ALICE))
    h.backend.queue_turn([adk_text("Quick answer.")], delay=0)
    await h.tg.send_text(ALICE, "quick question")
    await h.tg.wait_for_message(ALICE, contains="Quick answer.")
    await h.idle()
    assert len(h.tg.chat_actions(ALICE)) == actions


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


async def test_expired_token_is_replaced_and_the_turn_retried(h: Harness) -> None:
    await h.tg.send_text(ALICE, "first")
    await h.tg.wait_for_message(ALICE)
    await h.idle()
    old = next(iter(h.backend.tokens))
    h.backend.expire_token(old)

    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "second")
    reply = await h.tg.wait_for_message(ALICE, after=before)
    await h.idle()
    assert "second" in (reply.text or "")
    assert len(h.backend.requests_to("anonymous_token")) == 2
    runs = h.backend.requests_to("run_sse")
    assert runs[-1].headers["authorization"] != f"Bearer {old}"
    # nothing about tokens is shown to the person
    assert all("token" not in (m.text or "").lower() for m in h.tg.messages(ALICE))


async def _age_token(h: Harness, expires_at: float) -> str:
    store = h.runtime.svc.store
    record = await store.get_chat(ALICE)
    assert record is not None and record.token
    await store.save_token(ALICE, client_id=record.client_id, token=record.token,
                           expires_at=expires_at, anon_user_id=record.anon_user_id)
    return record.client_id


async def test_token_near_expiry_is_renewed_transparently(h: Harness) -> None:
    await h.tg.send_text(ALICE, "first")
    await h.tg.wait_for_message(ALICE)
    await h.idle()
    client_id = await _age_token(h, time.time() + 60)
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "second")
    reply = await h.tg.wait_for_message(ALICE, after=before)
    await h.idle()
    assert "second" in (reply.text or "")
    assert len(h.tg.messages(ALICE)) == before + 1  # nothing else shown
    renewal = h.backend.requests_to("anonymous_token")[1]
    assert renewal.headers["x-client-id"] == client_id


async def test_expired_token_is_replaced_before_use(h: Harness) -> None:
    await h.tg.send_text(ALICE, "first")
    await h.tg.wait_for_message(ALICE)
    await h.idle()
    old = next(iter(h.backend.tokens))
    await _age_token(h, time.time() - 10)
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "second")
    await h.tg.wait_for_message(ALICE, after=before, contains="second")
    await h.idle()
    assert h.backend.requests_to("run_sse")[-1].headers["authorization"] != f"Bearer {old}"


async def test_lost_session_is_recreated_and_the_user_told(h: Harness) -> None:
    await h.tg.send_text(ALICE, "first")
    await h.tg.wait_for_message(ALICE)
    await h.idle()
    old_session = next(iter(h.backend.sessions))
    h.backend.forget_session(old_session)

    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "second")
    await h.tg.wait_for_message(ALICE, after=before, contains="second")
    notice = await h.tg.wait_for_message(ALICE, after=before, contains="no longer")
    assert "send them again" in (notice.text or "")
    await h.idle()
    assert len(h.backend.requests_to("create_session")) == 2
    new_session = h.backend.requests_to("run_sse")[-1].json["session_id"]
    assert new_session != old_session


async def test_backend_down_is_explained_without_internals(h: Harness) -> None:
    h.backend.fail("run_sse", 500, http_status=500, message="Traceback: boom", times=3)
    await h.tg.send_text(ALICE, "hello")
    reply = await h.tg.wait_for_message(ALICE, contains="unavailable")
    assert "Traceback" not in (reply.text or "") and "500" not in (reply.text or "")


async def test_allowed_chat_ids_refuses_others(tmp_path, ) -> None:  # type: ignore[no-untyped-def]
    async with Harness(tmp_path, allowed_chat_ids=str(ALICE)) as h:
        await h.tg.send_text(BOB, "hello")
        refusal = await h.tg.wait_for_message(BOB)
        assert "private" in (refusal.text or "")
        await h.tg.send_text(ALICE, "hello")
        await h.tg.wait_for_message(ALICE)
        await h.idle()
        assert len(h.backend.requests_to("anonymous_token")) == 1


async def test_command_menu_is_set(h: Harness) -> None:
    commands = {c["command"] for c in h.tg.commands()}
    assert {"start", "help", "export", "status", "credits", "new", "cancel", "language"} <= (
        commands
    )


async def test_missing_client_id_answer_gets_a_new_client_id(h: Harness) -> None:
    h.backend.fail("anonymous_token", 400, http_status=400, message="missing X-Client-Id")
    await h.tg.send_text(ALICE, "hello")
    await h.tg.wait_for_message(ALICE, contains="hello")
    first, second = h.backend.requests_to("anonymous_token")
    assert first.headers["x-client-id"] != second.headers["x-client-id"]
    record = await h.runtime.svc.store.get_chat(ALICE)
    assert record is not None and record.client_id == second.headers["x-client-id"]
