"""🔁 Try again (issue 22): a failure carries a button that runs the same step again with the
same request; only who asked may press it; failures another try cannot fix carry none."""

from __future__ import annotations

from typing import Any

from bot.sandbox.backend import adk_error
from bot.sandbox.harness import Harness

ALICE = 5601
BOB = 5602
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(50_000)


def _retry(message: Any) -> str:
    (button,) = message.buttons
    assert button["text"] == "🔁 Try again"
    return str(button["callback_data"])


async def test_a_failed_upload_is_uploaded_again_with_one_tap(h: Harness) -> None:
    h.backend.fail("upload", 500, http_status=503)  # an upload is not retried by itself
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4")
    failure = await h.tg.wait_for_message(ALICE, contains="unavailable right now", timeout=20)
    await h.idle()
    data = _retry(failure)
    await h.tg.press_button(ALICE, failure.message_id, data, user=ALICE)
    await h.tg.wait_for_message(ALICE, contains="Received", timeout=20)
    assert h.backend.requests_to("upload")[-1].files[0].filename == "clip.mp4"


async def test_a_failed_turn_runs_the_same_words_again(h: Harness) -> None:
    h.backend.queue_turn([adk_error("the agent crashed")])
    await h.tg.send_text(ALICE, "make it shorter")
    failure = await h.tg.wait_for_message(ALICE, contains="couldn't complete", timeout=20)
    await h.idle()
    await h.tg.press_button(ALICE, failure.message_id, _retry(failure), user=ALICE)
    await h.tg.wait_for(lambda: len(h.backend.requests_to("run_sse")) == 2 or None, 20)
    sent = [r.json["new_message"]["parts"][0]["text"] for r in h.backend.requests_to("run_sse")]
    assert sent == ["make it shorter", "make it shorter"]


async def test_a_failed_render_is_rendered_again_not_the_turn(h: Harness) -> None:
    h.backend.render_fail = True
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", caption="make it smaller")
    failure = await h.tg.wait_for_message(ALICE, contains="render failed", timeout=20)
    await h.idle()
    h.backend.render_fail = False
    turns = len(h.backend.requests_to("run_sse"))
    await h.tg.press_button(ALICE, failure.message_id, _retry(failure), user=ALICE)
    await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    assert len(h.backend.requests_to("run_sse")) == turns, "the edit is not asked for twice"
    assert len(h.backend.requests_to("render")) == 2


async def test_in_a_group_only_who_asked_or_an_admin_may_retry(h: Harness) -> None:
    group = -100560
    h.backend.queue_turn([adk_error("the agent crashed")])
    await h.tg.send_text(group, "@rtk_compressor_bot make it shorter", user=h.tg.user(ALICE),
                         chat_type="supergroup")
    failure = await h.tg.wait_for_message(group, contains="couldn't complete", timeout=20)
    await h.idle()
    await h.tg.press_button(group, failure.message_id, _retry(failure), user=BOB)
    refusal = await h.tg.wait_for_call("answerCallbackQuery")
    await h.idle()
    assert refusal.params.get("show_alert") is True
    assert len(h.backend.requests_to("run_sse")) == 1
    await h.tg.press_button(group, failure.message_id, _retry(failure), user=ALICE)
    await h.tg.wait_for(lambda: len(h.backend.requests_to("run_sse")) == 2 or None, 20)


async def test_no_credits_carries_no_retry(h: Harness) -> None:
    h.backend.fail("run_sse", 2001, message="insufficient credits")
    await h.tg.send_text(ALICE, "make it smaller")
    reply = await h.tg.wait_for_message(ALICE, contains="register", timeout=20)
    assert not reply.buttons
