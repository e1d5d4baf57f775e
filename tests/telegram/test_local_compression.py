"""Compressing on this machine (issue 21), through the real Application against the fakes and
a real ffmpeg: LOCAL_COMPRESSION=always (no backend at all) and fallback (the backend cannot)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.compress import Ffmpeg
from bot.sandbox.harness import Harness
from tests.clips import hls_playlist, local_options, make, probe_delivered

ALICE = 5101
BOB = 5102


@dataclass(frozen=True)
class Clips:
    landscape: bytes  # 960x540, 3 s, nearly lossless: plenty to compress
    portrait: bytes  # the same with a display matrix: shows 540x960
    tiny: bytes  # 160x90 at a very low bitrate: nothing left to gain
    long: bytes  # 1280x720, 20 s: an encode that takes a while (progress, cancel, line)
    playlist: bytes  # an HLS playlist naming a local file, sent as "clip.mp4"
    referenced: Path  # the file it names: ffmpeg must never open it


@pytest.fixture(scope="module")
def clips(ffmpeg: Ffmpeg, tmp_path_factory: pytest.TempPathFactory) -> Clips:
    d = tmp_path_factory.mktemp("local-clips")
    ff = ffmpeg.path
    src = ["-f", "lavfi", "-i", "testsrc2=s=960x540:r=25:d=3", "-f", "lavfi", "-i",
           "sine=f=440:d=3", "-shortest"]
    land, portrait, tiny, long = (d / n for n in ("land.mp4", "portrait.mp4", "tiny.mp4",
                                                  "long.mp4"))
    make(ff, *src, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "8", "-c:a", "aac",
          str(land))
    make(ff, "-display_rotation:v:0", "90", "-i", str(land), "-c", "copy", str(portrait))
    make(ff, "-f", "lavfi", "-i", "color=c=gray:s=160x90:r=10:d=2", "-c:v", "libx264",
          "-preset", "veryslow", "-crf", "51", "-an", str(tiny))
    make(ff, "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=20", "-c:v", "libx264",
          "-preset", "ultrafast", "-crf", "26", "-an", str(long))
    referenced = d / "secret.mp4"
    referenced.write_bytes(tiny.read_bytes())
    playlist = hls_playlist(str(referenced)).encode()
    return Clips(land.read_bytes(), portrait.read_bytes(), tiny.read_bytes(), long.read_bytes(),
                 playlist, referenced)




def _texts(h: Harness, chat_id: int) -> list[str]:
    """Everything the chat was shown, edits and removed messages included."""
    return [t for m in h.tg.messages(chat_id) for t in [*m.edits, m.text or ""]]


async def test_always_mode_compresses_a_video_without_any_backend(
    tmp_path: Path, clips: Clips, ffmpeg: Ffmpeg
) -> None:
    async with Harness(tmp_path, **local_options()) as h:
        await h.tg.send_video(ALICE, clips.landscape, file_name="holiday.mp4", duration=3,
                              width=960, height=540)
        ack = await h.tg.wait_for_message(ALICE, contains="Received", timeout=20)
        assert "holiday.mp4" in (ack.text or "")
        small = next(b for b in ack.buttons if str(b["callback_data"]).startswith("pre:small"))
        await h.tg.press_button(ALICE, ack.message_id, str(small["callback_data"]), user=ALICE)
        video = await h.tg.wait_for_message(ALICE, kind="video", timeout=60)
        assert "→" in (video.text or ""), video.text
        probe = await probe_delivered(h, ffmpeg, video, tmp_path)
        assert probe.size < len(clips.landscape)
        assert (probe.width, probe.height) == (960, 540)
        assert probe.video_codec == "h264" and probe.audio_streams == 1
        await h.idle()
        # Never a token, a session, a turn or an upload: the backend was not asked anything.
        assert h.backend.requests == []
        assert not any("Setting up" in t for t in _texts(h, ALICE))


async def test_a_size_asked_for_in_words_is_kept_and_a_portrait_stays_portrait(
    tmp_path: Path, clips: Clips, ffmpeg: Ffmpeg
) -> None:
    async with Harness(tmp_path, **local_options()) as h:
        await h.tg.send_video(ALICE, clips.portrait, file_name="phone.mp4", duration=3,
                              width=540, height=960, caption="compress it to under 0.3 MB")
        video = await h.tg.wait_for_message(ALICE, kind="video", timeout=90)
        probe = await probe_delivered(h, ffmpeg, video, tmp_path)
        assert probe.size <= 300_000, probe.size
        assert probe.width < probe.height, (probe.width, probe.height)
        shown = _texts(h, ALICE)
        assert any("Compressing" in t for t in shown), shown
        assert h.backend.requests == []


async def test_a_video_already_small_gets_no_bigger_copy(tmp_path: Path, clips: Clips) -> None:
    async with Harness(tmp_path, **local_options()) as h:
        await h.tg.send_video(ALICE, clips.tiny, file_name="tiny.mp4", duration=2, width=160,
                              height=90, caption="make it smaller")
        reply = await h.tg.wait_for_message(ALICE, contains="already well compressed",
                                            timeout=60)
        await h.idle()
        assert not [m for m in h.tg.messages(ALICE) if m.kind in {"video", "document"}]
        # A 160x90 clip of a few kB: no lower resolution or size target to offer either.
        assert not reply.buttons and "can still help" not in (reply.text or "")


@pytest.mark.parametrize("content", ["playlist", "text"])
async def test_a_file_that_is_no_video_gets_one_sentence(
    tmp_path: Path, clips: Clips, content: str
) -> None:
    body = clips.playlist if content == "playlist" else b"not a video at all\n" * 500
    before = clips.referenced.stat().st_atime_ns
    async with Harness(tmp_path, **local_options()) as h:
        await h.tg.send_document(ALICE, body, file_name="clip.mp4", mime_type="video/mp4",
                                 caption="compress this")
        reply = await h.tg.wait_for_message(ALICE, contains="isn't a video", timeout=30)
        await h.idle()
        assert "ffmpeg" not in (reply.text or "").lower()
        assert not [m for m in h.tg.messages(ALICE) if m.kind in {"video", "document"}]
    assert clips.referenced.stat().st_atime_ns == before  # the playlist's file was never read


def _ffmpegs() -> list[int]:
    """The ffmpeg processes this test process started that are still running."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            name, _, rest = stat.partition(") ")
            state, ppid = rest.split()[:2]
            if "ffmpeg" in name and int(ppid) == os.getpid() and state != "Z":
                found.append(int(proc.name))
    return found


async def test_progress_moves_and_cancel_stops_the_encoder(
    tmp_path: Path, clips: Clips
) -> None:
    async with Harness(tmp_path, **local_options()) as h:
        await h.tg.send_video(ALICE, clips.long, file_name="long.mp4", duration=20, width=1280,
                              height=720, caption="H.265 please, smaller")
        status = await h.tg.wait_for_message(ALICE, contains="Compressing…", timeout=60)
        await h.tg.wait_for(lambda: _ffmpegs() or None, 30)
        await h.tg.wait_for(lambda: any("%" in t for t in _texts(h, ALICE)
                                        if "Compressing" in t) or None, 30)
        await h.tg.send_text(ALICE, "/cancel")
        await h.tg.wait_for_message(ALICE, contains="Stopped", timeout=15)
        await h.tg.wait_for(lambda: not _ffmpegs() or None, 10)
        await asyncio.sleep(1)
        await h.idle()
        assert not [m for m in h.tg.messages(ALICE) if m.kind in {"video", "document"}]
        (now,) = [m for m in h.tg.messages(ALICE) if m.message_id == status.message_id]
        shown = [*now.edits, now.text or ""]
        assert any("Compressing" in t and "%" in t for t in shown), shown
        assert "Stopped" in (now.text or "") and not now.buttons, "the status says it stopped"
        temp = h.runtime.svc.temp.run_dir
        assert not list(temp.glob("compress-*")), "the partial output is removed"


async def test_a_second_chat_waits_its_turn_and_is_told_its_place(
    tmp_path: Path, clips: Clips
) -> None:
    async with Harness(tmp_path, **local_options(local_encode_concurrency=1)) as h:
        await h.tg.send_video(ALICE, clips.long, file_name="a.mp4", duration=20, width=1280,
                              height=720, caption="smaller, in H.265")
        await h.tg.wait_for(lambda: _ffmpegs() or None, 30)
        await h.tg.send_video(BOB, clips.landscape, file_name="b.mp4", duration=3, width=960,
                              height=540, caption="smaller")
        await h.tg.wait_for_message(BOB, contains="#1 in line", timeout=20)
        await h.tg.send_text(ALICE, "/cancel")
        await h.tg.wait_for_message(BOB, kind="video", timeout=90)


async def test_fallback_on_no_credits_says_why_then_compresses_here(
    tmp_path: Path, clips: Clips, ffmpeg: Ffmpeg
) -> None:
    async with Harness(tmp_path, local_compression="fallback") as h:
        h.backend.fail("run_sse", 2001, message="insufficient credits")
        await h.tg.send_video(ALICE, clips.landscape, file_name="clip.mp4", duration=3,
                              width=960, height=540, caption="compress to under 0.4 MB")
        video = await h.tg.wait_for_message(ALICE, kind="video", timeout=90)
        reason = await h.tg.wait_for_message(ALICE, contains="on this machine instead")
        assert "register?bind=" in (reason.text or "")
        probe = await probe_delivered(h, ffmpeg, video, tmp_path)
        assert probe.size <= 400_000


async def test_fallback_on_a_plan_that_blocks_export(tmp_path: Path, clips: Clips) -> None:
    async with Harness(tmp_path, local_compression="fallback") as h:
        h.backend.force_402 = True
        await h.tg.send_video(ALICE, clips.landscape, file_name="clip.mp4", duration=3,
                              width=960, height=540, caption="make it smaller")
        await h.tg.wait_for_message(ALICE, kind="video", timeout=90)
        reason = await h.tg.wait_for_message(ALICE, contains="free plan")
        assert "on this machine instead" in (reason.text or "")


@pytest.mark.parametrize(("code", "status", "why"), [
    (500, 503, "unavailable right now"),  # down, after the retry policy gave up
    (4002, 200, "too large for the video service"),
])
async def test_fallback_when_the_backend_cannot_take_the_upload(
    tmp_path: Path, clips: Clips, code: int, status: int, why: str
) -> None:
    async with Harness(tmp_path, local_compression="fallback") as h:
        h.backend.fail("upload", code, http_status=status, times=5)
        await h.tg.send_video(ALICE, clips.landscape, file_name="clip.mp4", duration=3,
                              width=960, height=540)
        await h.tg.wait_for_message(ALICE, kind="video", timeout=90)
        reason = await h.tg.wait_for_message(ALICE, contains=why)
        assert "on this machine instead" in (reason.text or "")


async def test_off_keeps_the_backend_answer(tmp_path: Path, clips: Clips) -> None:
    async with Harness(tmp_path, local_compression="off") as h:
        h.backend.fail("run_sse", 2001, message="insufficient credits")
        await h.tg.send_video(ALICE, clips.landscape, file_name="clip.mp4", duration=3,
                              width=960, height=540, caption="make it smaller")
        await h.tg.wait_for_message(ALICE, contains="register?bind=", timeout=30)
        await h.idle()
        assert not [m for m in h.tg.messages(ALICE) if m.kind in {"video", "document"}]


async def test_a_restart_mid_encode_compresses_again_and_delivers_once(
    tmp_path: Path, clips: Clips
) -> None:
    async with Harness(tmp_path, **local_options()) as h:
        await h.tg.send_video(ALICE, clips.long, file_name="long.mp4", duration=20, width=1280,
                              height=720, caption="smaller")
        await h.tg.wait_for(lambda: _ffmpegs() or None, 60)
        await h.restart()
        assert not _ffmpegs(), "the stopped run's encoder is gone"
        await h.tg.wait_for_message(ALICE, kind="video", timeout=120)
        await h.idle()
        assert len([m for m in h.tg.messages(ALICE) if m.kind in {"video", "document"}]) == 1
        live = [m.text or "" for m in h.tg.messages(ALICE) if not m.deleted]
        assert sum("Received" in t for t in live) == 1, live


async def test_a_local_bot_api_file_is_read_in_place(tmp_path: Path, clips: Clips) -> None:
    source = tmp_path / "phone.mp4"
    source.write_bytes(clips.landscape)
    async with Harness(tmp_path, telegram_local_mode=True, tg_options={"local_mode": True},
                       **local_options()) as h:
        await h.tg.send_video(ALICE, b"", file_name="phone.mp4", source_path=source,
                              caption="smaller")
        await h.tg.wait_for_message(ALICE, kind="video", timeout=60)
        assert h.tg.file_downloads == 0, "read from the path, not fetched over HTTP"
        assert not any("Getting your video" in t for t in _texts(h, ALICE))


async def test_fallback_when_the_render_fails(tmp_path: Path, clips: Clips) -> None:
    async with Harness(tmp_path, local_compression="fallback") as h:
        h.backend.render_fail = True
        await h.tg.send_video(ALICE, clips.landscape, file_name="clip.mp4", duration=3,
                              width=960, height=540, caption="make it smaller")
        await h.tg.wait_for_message(ALICE, kind="video", timeout=90)
        reason = await h.tg.wait_for_message(ALICE, contains="render failed")
        assert "on this machine instead" in (reason.text or "")


async def test_the_status_cancel_button_stops_that_job_only_for_who_asked(
    tmp_path: Path, clips: Clips
) -> None:
    group = -100510
    async with Harness(tmp_path, **local_options()) as h:
        await h.tg.send_video(group, clips.long, file_name="long.mp4", duration=20, width=1280,
                              height=720, caption="@rtk_compressor_bot smaller, H.265",
                              user=h.tg.user(ALICE), chat_type="supergroup")
        status = await h.tg.wait_for_message(group, contains="🗜 Compressing", timeout=60)
        await h.tg.wait_for(lambda: _ffmpegs() or None, 30)
        (stop,) = [b for b in status.buttons if str(b["callback_data"]).startswith("stop:")]
        assert stop["text"] == "❌ Cancel"
        data = str(stop["callback_data"])
        await h.tg.press_button(group, status.message_id, data, user=BOB)  # not his video
        await asyncio.sleep(1)
        assert _ffmpegs(), "a bystander's press stops nothing"
        await h.tg.press_button(group, status.message_id, data, user=ALICE)
        await h.tg.wait_for(lambda: not _ffmpegs() or None, 10)
        await h.tg.wait_for_message(group, contains="Stopped", timeout=10)
        await h.idle()
        (now,) = [m for m in h.tg.messages(group) if m.message_id == status.message_id]
        assert not now.deleted and "Stopped" in (now.text or "") and not now.buttons
        assert not [m for m in h.tg.messages(group) if m.kind in {"video", "document"}]
        alerts = [c for c in h.tg.calls if c.method == "answerCallbackQuery"
                  and c.params.get("show_alert")]
        assert alerts, "the bystander was told, in an alert"


async def test_an_export_over_the_target_is_fitted_here_with_one_tap(
    tmp_path: Path, clips: Clips, ffmpeg: Ffmpeg
) -> None:
    async with Harness(tmp_path, local_compression="fallback") as h:
        h.backend.render_size = 600_000
        await h.tg.send_video(ALICE, clips.landscape, file_name="clip.mp4", duration=3,
                              width=960, height=540, caption="compress it to under 0.3 MB")
        export = await h.tg.wait_for_message(ALICE, kind="video", timeout=30)
        (fit,) = export.buttons
        await h.tg.press_button(ALICE, export.message_id, str(fit["callback_data"]), user=ALICE)
        fitted = await h.tg.wait_for_message(ALICE, kind="video", after=len(
            h.tg.messages(ALICE)), timeout=90)
        probe = await probe_delivered(h, ffmpeg, fitted, tmp_path)
        assert probe.size <= 300_000
        await h.idle()
        assert len([m for m in h.tg.messages(ALICE) if m.kind == "video"]) == 2
