"""First contact (issue 22): a chat whose very first message is a video (a forwarded clip, a
new group) gets the short setup line and then its video processed, not dropped."""

from __future__ import annotations

from bot.sandbox.harness import Harness

ALICE = 4101
GROUP = -100700
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(200_000)


async def test_a_first_video_in_a_new_private_chat_sets_up_then_is_received(h: Harness) -> None:
    await h.tg.send_video(ALICE, VIDEO, file_name="forwarded.mp4", duration=8)
    ack = await h.tg.wait_for_message(ALICE, contains="Received", timeout=15)
    messages = [m for m in h.tg.messages(ALICE) if not m.deleted]
    # The setup line was the first thing shown and became the acknowledgement in place.
    assert messages[0].message_id == ack.message_id
    assert any("Setting up" in (old or "") for old in ack.edits), ack.edits
    (upload,) = h.backend.requests_to("upload")
    assert [f.filename for f in upload.files] == ["forwarded.mp4"]


async def test_a_first_captioned_video_in_a_new_group_sets_up_and_is_compressed(
    h: Harness,
) -> None:
    await h.tg.send_video(GROUP, VIDEO, file_name="clip.mp4", duration=8,
                          user=h.tg.user(4102), chat_type="supergroup",
                          caption="@rtk_compressor_bot make it smaller")
    await h.tg.wait_for_message(GROUP, kind="video", timeout=20)
    shown = h.tg.messages(GROUP)
    assert any("Setting up" in (old or "") for m in shown for old in [m.text, *m.edits])
    assert next(iter(h.backend.sessions.values())).messages == ["make it smaller"]
