"""Engine.probe on real clips: display size after rotation, HDR, VFR, audio, NotAVideo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.compress import Engine, NotAVideo
from tests.compress.conftest import Clips


async def test_landscape(engine: Engine, clips: Clips) -> None:
    p = await engine.probe(clips.landscape)
    assert (p.width, p.height, p.rotation) == (1280, 720, 0)
    assert p.duration == pytest.approx(4.0, abs=0.1)
    assert p.fps == 25 and not p.vfr
    assert p.video_codec == "h264" and p.pix_fmt == "yuv420p"
    assert not p.ten_bit and not p.hdr
    assert p.audio_streams == 1
    assert p.size == clips.landscape.stat().st_size
    assert p.container == "mov"


async def test_portrait_by_display_matrix(engine: Engine, clips: Clips) -> None:
    p = await engine.probe(clips.portrait)
    assert (p.width, p.height) == (720, 1280)
    assert abs(p.rotation) == 90


async def test_silent_and_two_audio(engine: Engine, clips: Clips) -> None:
    assert (await engine.probe(clips.silent)).audio_streams == 0
    assert (await engine.probe(clips.two_audio)).audio_streams == 2


async def test_vfr(engine: Engine, clips: Clips) -> None:
    p = await engine.probe(clips.vfr)
    assert p.vfr
    assert p.duration == pytest.approx(2.0, abs=0.15)


async def test_odd(engine: Engine, clips: Clips) -> None:
    p = await engine.probe(clips.odd)
    assert (p.width, p.height) == (321, 241)


async def test_duration_from_packets_when_the_container_has_none(
    engine: Engine, clips: Clips
) -> None:
    p = await engine.probe(clips.no_duration)
    assert p.container == "matroska"
    assert p.duration == pytest.approx(2.0, abs=0.15)


async def test_hdr_ten_bit(engine: Engine, clips: Clips) -> None:
    if clips.hdr is None:
        pytest.skip("this ffmpeg has no libx265")
    p = await engine.probe(clips.hdr)
    assert p.video_codec == "hevc" and p.pix_fmt == "yuv420p10le"
    assert p.ten_bit and p.hdr


@pytest.mark.parametrize("name", ["text", "playlist", "concat", "directory"])
async def test_not_a_video(engine: Engine, clips: Clips, name: str) -> None:
    with pytest.raises(NotAVideo) as caught:
        await engine.probe(getattr(clips, name))
    assert str(caught.value) == "This file is not a video I can read."


async def test_missing_file(engine: Engine, clips: Clips) -> None:
    with pytest.raises(NotAVideo):
        await engine.probe(clips.directory / "nope.mp4")



@pytest.fixture
def faked_rotation(engine: Engine, clips: Clips, tmp_path: Path) -> Path:
    faked = tmp_path / "faked_rotation.mkv"  # Matroska keeps any stream tag
    subprocess.run(
        [engine.ffmpeg.path, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i",
         str(clips.silent), "-c", "copy", "-metadata:s:v:0",
         "comment=Display Matrix: rotation of -90.00 degrees", str(faked)],
        check=True, timeout=60)
    return faked


async def test_metadata_cannot_fake_a_rotation(engine: Engine, faked_rotation: Path) -> None:
    """A tag whose value reads like side data is a tag, not a display matrix."""
    p = await engine.probe(faked_rotation)
    assert (p.width, p.height, p.rotation) == (640, 360, 0)


@pytest.fixture
def song_with_cover(engine: Engine, tmp_path: Path) -> Path:
    song = tmp_path / "song.m4a"
    subprocess.run(
        [engine.ffmpeg.path, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", "sine=d=1", "-f", "lavfi", "-i", "color=s=64x64:d=1",
         "-map", "0:a", "-map", "1:v", "-frames:v", "1", "-c:a", "aac", "-c:v", "mjpeg",
         "-disposition:v:0", "attached_pic", str(song)],
        check=True, timeout=60)
    return song


async def test_a_song_with_cover_art_is_not_a_video(engine: Engine, song_with_cover: Path) -> None:
    with pytest.raises(NotAVideo):
        await engine.probe(song_with_cover)
