"""Honest words (issue 22): a video too large for the video service (4002) gets the presets
that ask for less as buttons, not "compress it yourself"; LOCAL_COMPRESSION=always welcomes
and helps in its own words (this machine, ffmpeg), not the AI service's."""

from __future__ import annotations

from pathlib import Path

from bot.conversation import local_messages
from bot.i18n import translator
from bot.sandbox.harness import Harness

ALICE = 5901
MB = 1_000_000
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(50_000)


async def test_too_large_to_work_on_offers_720p_and_sizes_to_fit(tmp_path: Path) -> None:
    async with Harness(tmp_path, telegram_local_mode=True, tg_options={"local_mode": True}) as h:
        await h.tg.send_video(ALICE, VIDEO, file_name="big.mp4", declared_size=60 * MB,
                              width=1920, height=1080, duration=90)
        await h.tg.wait_for_message(ALICE, contains="Received", timeout=15)
        await h.idle()
        h.backend.fail("run_sse", 4002, message="file too large")
        await h.tg.send_text(ALICE, "make it smaller")
        reply = await h.tg.wait_for_message(ALICE, contains="too large", timeout=15)
        await h.idle()
        text = reply.text or ""
        assert "compress" not in text.lower() and "trim" not in text.lower(), text
        labels = [b["text"] for b in reply.buttons]
        assert labels == ["Fit 16 MB (WhatsApp)", "Fit 10 MB (Discord)", "Fit 50 MB",
                          "Make it 720p"], labels
        (to_720,) = [b for b in reply.buttons if b["text"] == "Make it 720p"]
        await h.tg.press_button(ALICE, reply.message_id, str(to_720["callback_data"]),
                                user=ALICE)
        await h.tg.wait_for(lambda: len(h.backend.requests_to("run_sse")) == 2 or None, 15)
        asked = h.backend.requests_to("run_sse")[-1].json["new_message"]["parts"][0]["text"]
        assert "720p" in asked


async def test_an_upload_refused_for_its_size_says_what_to_send_instead(h: Harness) -> None:
    h.backend.max_upload_bytes = 10_000
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4")
    reply = await h.tg.wait_for_message(ALICE, contains="too large", timeout=15)
    text = reply.text or ""
    assert "couldn't be added" in text and "compress" not in text.lower(), text
    assert not reply.buttons, "no preset can work on a video the service never got"


async def test_always_mode_welcomes_and_helps_in_its_own_words(tmp_path: Path) -> None:
    async with Harness(tmp_path, local_compression="always") as h:
        await h.tg.send_text(ALICE, "/start")
        welcome = await h.tg.wait_for_message(ALICE, contains="ffmpeg", timeout=10)
        text = welcome.text or ""
        assert "AI" not in text and "credits" in text and "20 MB" in text, text
        await h.tg.send_text(ALICE, "/help")
        shown = await h.tg.wait_for_message(ALICE, contains="/cancel", after=1, timeout=10)
        assert "/credits" not in (shown.text or "") and "ffmpeg" in (shown.text or "")
        await h.idle()
        assert h.backend.requests == [], "no video service was contacted"
        user = h.tg.user(5902, language_code="zh-hant")
        await h.tg.send_text(5902, "/start", user=user)
        zh = await h.tg.wait_for_message(5902, timeout=10)
        assert zh.text == local_messages.welcome(translator("zh_Hant"), 20 * MB)
        assert zh.text != text
