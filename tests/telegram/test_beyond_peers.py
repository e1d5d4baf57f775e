"""What no other bot of its kind offers (issue 13): before → after on delivery, one-tap presets
under an upload, and /history that sends a delivered video again without a new render."""

from __future__ import annotations

import pytest

from bot.i18n import translator
from bot.sandbox.harness import Harness

ALICE = 3201
GROUP, ADMIN, MEMBER, OTHER = -100321, 3202, 3203, 3204
MIB = 1024 * 1024
CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(2_000_000 - 12)  # 2.0 MB
BIG = b"\x00\x00\x00\x18ftypmp42" + bytes(17 * MIB)  # over WhatsApp's 16 MB


async def upload(h: Harness, chat: int, content: bytes = CLIP, **kwargs: object) -> None:
    await h.tg.send_video(chat, content, file_name="clip.mp4", duration=10, width=1920,
                          height=1080, **kwargs)  # type: ignore[arg-type]


# -- 5. before → after ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("en", "✅ Here is your video: 2.0 MB → 200.0 kB (-90%), 1080p, 10 sec"),
        ("zh-hans", "✅ 你的视频好了：2.0 MB → 200.0 kB（-90%），1080p，10秒"),
    ],
)
async def test_delivery_says_what_was_gained(h: Harness, code: str, expected: str) -> None:
    user = h.tg.user(ALICE, language_code=code)
    await upload(h, ALICE, user=user)
    await h.tg.wait_for_message(ALICE, contains="clip.mp4")
    await h.idle()
    await h.tg.send_text(ALICE, "compress this video to a smaller file size", user=user)
    video = await h.tg.wait_for_message(ALICE, kind="video", timeout=15)
    assert video.text == expected
    assert h.backend.render_size == 200_000


# -- 6. one-tap presets --------------------------------------------------------------------------


async def test_presets_follow_the_upload_and_skip_what_it_already_fits(h: Harness) -> None:
    await upload(h, ALICE)
    ack = await h.tg.wait_for_message(ALICE, contains="Received")
    await h.idle()
    ack = h.tg.messages(ALICE)[-1]
    assert [b["text"] for b in ack.buttons] == ["Smaller file, same quality", "Make it 720p"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in ack.buttons)


@pytest.mark.parametrize("harness_options", [{"auto_export": False}])
async def test_preset_tap_sends_the_instruction_and_exports(h: Harness) -> None:
    await upload(h, ALICE, BIG)
    await h.tg.wait_for_message(ALICE, contains="Received", timeout=20)
    await h.idle()
    ack = h.tg.messages(ALICE)[-1]
    labels = [b["text"] for b in ack.buttons]
    assert labels == ["Smaller file, same quality", "Fit 16 MB (WhatsApp)", "Fit 10 MB (Discord)",
                      "Make it 720p"]
    fit = next(b for b in ack.buttons if b["text"] == "Fit 16 MB (WhatsApp)")
    await h.tg.press_button(ALICE, ack.message_id, fit["callback_data"])
    video = await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    sent = h.backend.requests_to("run_sse")[0].json["new_message"]["parts"][0]["text"]
    assert "under 16 MB for WhatsApp" in sent
    assert "17.8 MB" in sent and "10 sec" in sent  # what the agent needs for a bitrate
    assert "→" in (video.text or "")  # exported although AUTO_EXPORT=0: the person asked


async def test_presets_in_a_group_answer_only_the_uploader_or_an_admin(h: Harness) -> None:
    h.tg.set_admins(GROUP, [ADMIN])
    member = h.tg.user(MEMBER)
    await upload(h, GROUP, user=member, chat_type="supergroup",
                 caption="@rtk_compressor_bot")
    await h.tg.wait_for_message(GROUP, contains="Received")
    await h.idle()
    ack = next(m for m in h.tg.messages(GROUP) if m.buttons)
    data = ack.buttons[0]["callback_data"]
    assert data.endswith(f":{MEMBER}")

    await h.tg.press_button(GROUP, ack.message_id, data, user=h.tg.user(OTHER))
    refusal = await h.tg.wait_for_call("answerCallbackQuery")
    await h.idle()
    assert refusal.params.get("show_alert") is True
    assert "Only the person who sent the video" in refusal.params["text"]
    assert h.backend.requests_to("run_sse") == []

    await h.tg.press_button(GROUP, ack.message_id, data, user=h.tg.user(ADMIN))
    await h.tg.wait_for_message(GROUP, kind="video", timeout=20)
    sent = h.backend.requests_to("run_sse")[0].json["new_message"]["parts"][0]["text"]
    assert "smaller file size" in sent and "2.0 MB" in sent


async def test_preset_instruction_is_in_the_chats_language(h: Harness) -> None:
    user = h.tg.user(ALICE, language_code="zh-tw")
    await upload(h, ALICE, user=user)
    await h.tg.wait_for_message(ALICE, contains="clip.mp4")
    await h.idle()
    ack = h.tg.messages(ALICE)[-1]
    t = translator("zh_Hant")
    assert ack.buttons[0]["text"] == t._("Smaller file, same quality") == "檔案更小，畫質不變"
    await h.tg.press_button(ALICE, ack.message_id, ack.buttons[-1]["callback_data"], user=user)
    video = await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    assert "，720p，" in (video.text or "")  # the export's own resolution, from its draft
    sent = h.backend.requests_to("run_sse")[0].json["new_message"]["parts"][0]["text"]
    assert "720p" in sent and "這部影片" in sent and t.duration(10) in sent


# -- 8. /history -----------------------------------------------------------------------------------


async def test_history_sends_a_delivered_video_again_without_a_render(h: Harness) -> None:
    await h.tg.send_text(ALICE, "/history")
    empty = await h.tg.wait_for_message(ALICE, contains="No videos")
    await upload(h, ALICE, caption="compress this video")
    first = await h.tg.wait_for_message(ALICE, kind="video", timeout=15)
    await h.idle()
    renders = len(h.backend.requests_to("render"))

    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "/history")
    listing = await h.tg.wait_for_message(ALICE, after=before, contains="latest videos")
    assert "1. 200.0 kB, " in (listing.text or "") and "ago" in (listing.text or "")
    (button,) = listing.buttons
    assert button["text"] == "📤 1" and button["callback_data"].startswith("hist:")

    before = len(h.tg.messages(ALICE))
    await h.tg.press_button(ALICE, listing.message_id, button["callback_data"])
    again = await h.tg.wait_for_message(ALICE, after=before, kind="video")
    await h.idle()
    assert again.file_id == first.file_id and again.message_id != first.message_id
    assert len(h.backend.requests_to("render")) == renders
    assert empty.buttons == []


async def test_history_is_in_the_command_menu_in_every_language(h: Harness) -> None:
    for language in ("", "zh"):
        commands = {c["command"]: c["description"] for c in h.tg.commands(language_code=language)}
        assert "history" in commands
    zh = {c["command"]: c["description"] for c in h.tg.commands(language_code="zh")}
    assert zh["history"] == translator("zh_Hans")._("Your latest videos, to get one again")
