"""/settings for compression on this machine (issue 22): the default preset, the codec and the
resolution cap reach the local encode. Real Application, fakes, a real ffmpeg."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.compress import Ffmpeg
from bot.sandbox.harness import Harness
from bot.sandbox.telegram import BotMessage
from tests.clips import local_options, make, probe_delivered

ALICE = 5701


@dataclass(frozen=True)
class Clips:
    landscape: bytes  # 960x540, 3 s, nearly lossless
    tall: bytes  # 1280x960, 1 s: short side 960, over a 720 cap


@pytest.fixture(scope="module")
def clips(ffmpeg: Ffmpeg, tmp_path_factory: pytest.TempPathFactory) -> Clips:
    d = tmp_path_factory.mktemp("settings-clips")
    land, tall = d / "land.mp4", d / "tall.mp4"
    make(ffmpeg.path, "-f", "lavfi", "-i", "testsrc2=s=960x540:r=25:d=3", "-f", "lavfi", "-i",
         "sine=f=440:d=3", "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "8",
         "-c:a", "aac", str(land))
    make(ffmpeg.path, "-f", "lavfi", "-i", "testsrc2=s=1280x960:r=10:d=1", "-c:v", "libx264",
         "-preset", "ultrafast", "-crf", "10", "-an", str(tall))
    return Clips(land.read_bytes(), tall.read_bytes())




async def _press(h: Harness, menu: BotMessage, data: str) -> BotMessage:
    shown = menu.text
    await h.tg.press_button(ALICE, menu.message_id, data, user=ALICE)
    return await h.tg.wait_for(lambda: next(
        (m for m in h.tg.messages(ALICE) if m.message_id == menu.message_id
         and m.text != shown), None), timeout=20)


async def _choose(h: Harness, *datas: str) -> BotMessage:
    """Open /settings and press ``datas`` in turn on the same message."""
    await h.tg.send_text(ALICE, "/settings")
    menu = await h.tg.wait_for_message(ALICE, contains="Settings", timeout=20)
    for data in datas:
        menu = await _press(h, menu, data)
    await h.idle()
    return menu


async def test_the_menu_offers_the_codec_and_the_cap_when_compressing_here(
    tmp_path: Path, ffmpeg: Ffmpeg
) -> None:
    async with Harness(tmp_path, **local_options()) as h:
        menu = await _choose(h)
    text = menu.text or ""
    assert "Codec: H.264" in text and "Resolution cap: off" in text, text
    datas = [str(b["callback_data"]) for b in menu.buttons]
    assert {"set:r:0", "set:r:1080", "set:r:720", "set:r:480"} <= set(datas)
    assert ("set:c:h265" in datas) is ffmpeg.has_x265


async def test_a_default_of_16_mb_is_compressed_here_with_no_words(
    tmp_path: Path, clips: Clips, ffmpeg: Ffmpeg
) -> None:
    async with Harness(tmp_path, **local_options()) as h:
        await _choose(h, "set:p:16")
        await h.tg.send_video(ALICE, clips.landscape, file_name="holiday.mp4", duration=3,
                              width=960, height=540)
        ack = await h.tg.wait_for_message(ALICE, contains="Received", timeout=20)
        assert "Compressing to 16 MB (WhatsApp) — your default." in (ack.text or ""), ack.text
        assert [b["callback_data"] for b in ack.buttons] == ["set:open"]
        video = await h.tg.wait_for_message(ALICE, kind="video", timeout=90)
        probe = await probe_delivered(h, ffmpeg, video, tmp_path)
        assert probe.size <= 16_000_000 and probe.size < len(clips.landscape)
        assert h.backend.requests == []


async def test_h265_and_a_720_cap_reach_the_local_encode(
    tmp_path: Path, clips: Clips, ffmpeg: Ffmpeg
) -> None:
    if not ffmpeg.has_x265:
        pytest.skip("this ffmpeg has no libx265")
    async with Harness(tmp_path, **local_options()) as h:
        menu = await _choose(h, "set:c:h265", "set:r:720")
        assert "Codec: H.265" in (menu.text or "") and "720p" in (menu.text or "")
        await h.tg.send_video(ALICE, clips.tall, file_name="tall.mp4", duration=1,
                              width=1280, height=960, caption="make it smaller")
        video = await h.tg.wait_for_message(ALICE, kind="video", timeout=120)
        probe = await probe_delivered(h, ffmpeg, video, tmp_path)
    assert probe.video_codec == "hevc", probe
    assert (probe.width, probe.height) == (960, 720), probe


async def test_a_default_goes_to_this_machine_when_the_backend_cannot(
    tmp_path: Path, clips: Clips, ffmpeg: Ffmpeg
) -> None:
    """LOCAL_COMPRESSION=fallback: the default's request (720p) is what is compressed here."""
    async with Harness(tmp_path, local_compression="fallback",
                       transfer_progress_seconds=0.2) as h:
        await _choose(h, "set:p:720")
        h.backend.fail("run_sse", 2001, message="insufficient credits")
        await h.tg.send_video(ALICE, clips.tall, file_name="tall.mp4", duration=1,
                              width=1280, height=960)
        await h.tg.wait_for_message(ALICE, contains="your default",
                                    timeout=20)
        video = await h.tg.wait_for_message(ALICE, kind="video", timeout=120)
        await h.tg.wait_for_message(ALICE, contains="on this machine instead")
        probe = await probe_delivered(h, ffmpeg, video, tmp_path)
        (instruction,) = [r.json["new_message"]["parts"][0]["text"]
                          for r in h.backend.requests_to("run_sse")]
    assert "720p" in instruction  # the preset's instruction went to the agent first
    assert (probe.width, probe.height) == (960, 720), probe
