"""Engine.compress on real clips: what a person gets back plays everywhere and looks right."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bot.compress import Engine, Progress, Request, Result
from tests.compress.conftest import Clips


def top_atoms(path: Path) -> list[str]:
    """The mp4's top-level box types, in file order."""
    atoms, data, pos = [], path.read_bytes(), 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        atoms.append(kind.decode("latin-1"))
        if size < 8:
            break
        pos += size
    return atoms


async def playable(engine: Engine, result: Result) -> None:
    """h264/hevc yuv420p, even dimensions, moov before mdat (streams before fully downloaded)."""
    out = await engine.probe(result.path)
    assert out.pix_fmt == "yuv420p"
    assert out.width % 2 == 0 and out.height % 2 == 0
    assert (out.width, out.height) == (result.width, result.height)
    assert out.rotation == 0
    atoms = top_atoms(result.path)
    assert atoms.index("moov") < atoms.index("mdat")
    assert result.path.parent == engine.work_dir
    assert result.size == result.path.stat().st_size


async def test_default_is_smaller_and_plays(engine: Engine, clips: Clips) -> None:
    result = await engine.compress(clips.landscape, Request())
    await playable(engine, result)
    out = await engine.probe(result.path)
    assert out.video_codec == "h264"
    assert (out.width, out.height) == (1280, 720)
    assert out.fps == 25
    assert out.audio_streams == 1
    assert out.duration == pytest.approx(4.0, abs=0.15)
    assert result.smaller and result.fits and result.target_bytes is None
    assert result.input_size == clips.landscape.stat().st_size
    # a fresh name, nothing of the input's
    assert "landscape" not in result.path.name


async def test_portrait_stays_portrait(engine: Engine, clips: Clips) -> None:
    result = await engine.compress(clips.portrait, Request(max_short_side=360))
    await playable(engine, result)
    assert (result.width, result.height) == (360, 640)


async def test_short_side_caps(engine: Engine, clips: Clips) -> None:
    result = await engine.compress(clips.landscape, Request(max_short_side=480))
    await playable(engine, result)
    assert (result.width, result.height) == (854, 480)
    capped = await engine.compress(clips.landscape, Request(), max_short_side=360)
    assert (capped.width, capped.height) == (640, 360)
    # never upscaled
    small = await engine.compress(clips.silent, Request(max_short_side=1080))
    assert (small.width, small.height) == (640, 360)


async def test_odd_dimensions_become_even(engine: Engine, clips: Clips) -> None:
    result = await engine.compress(clips.odd, Request())
    await playable(engine, result)
    assert (result.width, result.height) == (320, 240)


async def test_mute_drops_audio(engine: Engine, clips: Clips) -> None:
    result = await engine.compress(clips.landscape, Request(mute=True, max_short_side=240))
    assert (await engine.probe(result.path)).audio_streams == 0


async def test_no_audio_and_two_audio(engine: Engine, clips: Clips) -> None:
    silent = await engine.compress(clips.silent, Request())
    assert (await engine.probe(silent.path)).audio_streams == 0
    two = await engine.compress(clips.two_audio, Request())
    assert (await engine.probe(two.path)).audio_streams == 1


async def test_vfr_keeps_timing(engine: Engine, clips: Clips) -> None:
    result = await engine.compress(clips.vfr, Request())
    out = await engine.probe(result.path)
    assert out.duration == pytest.approx(2.0, abs=0.15)
    assert out.vfr  # timestamps passed through, not resampled to a constant rate


async def test_h265(engine: Engine, clips: Clips) -> None:
    if not engine.ffmpeg.has_x265:
        pytest.skip("this ffmpeg has no libx265")
    result = await engine.compress(clips.silent, Request(codec="h265"))
    await playable(engine, result)
    assert result.codec == "h265"
    assert (await engine.probe(result.path)).video_codec == "hevc"
    assert b"hvc1" in result.path.read_bytes()[:200_000]  # the tag Apple players need


async def test_hdr_ten_bit_becomes_eight_bit(
    engine: Engine, clips: Clips, caplog: pytest.LogCaptureFixture
) -> None:
    if clips.hdr is None:
        pytest.skip("this ffmpeg has no libx265")
    result = await engine.compress(clips.hdr, Request())
    await playable(engine, result)
    out = await engine.probe(result.path)
    assert out.video_codec == "h264" and not out.ten_bit
    assert "tonemapping failed" not in caplog.text
    if engine.ffmpeg.can_tonemap:  # tonemapped to BT.709, tagged as such
        assert not out.hdr


async def test_progress_increases_to_the_end(engine: Engine, clips: Clips) -> None:
    seen: list[Progress] = []

    async def on_progress(progress: Progress) -> None:
        seen.append(progress)

    await engine.compress(clips.landscape, Request(), on_progress=on_progress)
    fractions = [p.fraction for p in seen if p.fraction is not None]
    assert fractions, seen
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)
    assert all(0 <= f <= 1 for f in fractions)
    assert all(p.passes == "" for p in seen)


async def test_a_failing_progress_callback_does_not_fail_the_encode(
    engine: Engine, clips: Clips
) -> None:
    async def broken(progress: Progress) -> None:
        raise RuntimeError("telegram said no")

    result = await engine.compress(clips.silent, Request(), on_progress=broken)
    assert result.path.is_file()
