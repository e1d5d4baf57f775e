"""Who may press a button is decided by what the bot stored (or Telegram quoted), never by the
button's callback data, which a client can send with any value (issue 23 item 16)."""

from __future__ import annotations

import pytest

from bot.sandbox.backend import adk_call, adk_text, make_draft
from bot.sandbox.harness import Harness

GROUP, ADMIN, MEMBER, OTHER = -100421, 4202, 4203, 4204
CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(2_000_000 - 12)


async def test_a_forged_preset_naming_the_presser_is_refused(h: Harness) -> None:
    h.tg.set_admins(GROUP, [ADMIN])
    await h.tg.send_video(GROUP, CLIP, file_name="clip.mp4", duration=10, width=1920,
                          height=1080, user=h.tg.user(MEMBER), chat_type="supergroup",
                          caption="@rtk_compressor_bot")
    await h.tg.wait_for_message(GROUP, contains="Received")
    await h.idle()
    ack = next(m for m in h.tg.messages(GROUP) if m.buttons)
    # A client may send any callback data: here one that names the presser as the uploader.
    await h.tg.press_button(GROUP, ack.message_id, f"pre:small:{OTHER}",
                            user=h.tg.user(OTHER), check=False)
    refusal = await h.tg.wait_for_call("answerCallbackQuery")
    await h.idle()
    assert refusal.params.get("show_alert") is True
    assert "Only the person who sent the video" in refusal.params["text"]
    assert h.backend.requests_to("run_sse") == []
    assert len(h.tg.calls_of("answerCallbackQuery")) == 1  # one answer, the alert


@pytest.mark.parametrize("harness_options", [{"auto_export": False}])
async def test_another_members_export_button_is_theirs_alone(h: Harness) -> None:
    h.tg.set_admins(GROUP, [ADMIN])
    h.backend.queue_turn(
        [adk_call("compress_video", {}), adk_text("Compressed it for you.")], draft=make_draft()
    )
    await h.tg.send_text(GROUP, "@rtk_compressor_bot compress", user=h.tg.user(MEMBER),
                         chat_type="supergroup")
    offer = await h.tg.wait_for_message(GROUP, contains="Compressed it")
    await h.idle()
    assert [b["callback_data"] for b in offer.buttons] == ["export"]

    await h.tg.press_button(GROUP, offer.message_id, "export", user=h.tg.user(OTHER))
    refusal = await h.tg.wait_for_call("answerCallbackQuery")
    await h.idle()
    assert refusal.params.get("show_alert") is True
    assert "Only the person who asked" in refusal.params["text"]
    assert h.backend.requests_to("render") == []

    # An admin may press it for them (they may /new and /cancel for the group too).
    await h.tg.press_button(GROUP, offer.message_id, "export", user=h.tg.user(ADMIN))
    await h.tg.wait_for_message(GROUP, kind="video", timeout=15)


async def test_admin_checks_are_cached_briefly(h: Harness) -> None:
    """Issue 23 item 18d: every admin-only command asked getChatMember again."""
    h.tg.set_admins(GROUP, [ADMIN])
    for _ in range(3):
        before = len(h.tg.messages(GROUP))
        await h.tg.send_text(GROUP, "/cancel", user=h.tg.user(ADMIN), chat_type="supergroup")
        await h.tg.wait_for_message(GROUP, after=before, contains="Nothing is running")
    await h.tg.send_text(GROUP, "/cancel", user=h.tg.user(MEMBER), chat_type="supergroup")
    await h.tg.wait_for_message(GROUP, contains="Only group admins")
    await h.idle()
    assert len(h.tg.calls_of("getChatMember")) == 2  # one per person, not one per command
