"""Real ffmpeg (found as the bot finds it) and small clips it makes, once per session.

Clips are tiny and short (the whole module must run fast on two busy cores) and never committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.compress import Engine, Ffmpeg
from tests.clips import hls_playlist, make


@dataclass(frozen=True)
class Clips:
    landscape: Path  # 1280x720 25 fps 4 s, AAC
    portrait: Path  # the landscape clip with a display matrix of 90°: shows 720x1280
    silent: Path  # 640x360, no audio track
    two_audio: Path  # 640x360 with two audio tracks
    vfr: Path  # 320x240, 1 s at 30 fps then 1 s at 10 fps
    odd: Path  # 321x241
    no_duration: Path  # Matroska written to a pipe: the container gives no duration
    hdr: Path | None  # HEVC 10-bit PQ/BT.2020 (None without libx265)
    text: Path
    playlist: Path  # an HLS playlist naming another local file and an http URL
    concat: Path  # an ffconcat list naming another local file
    referenced: Path  # the file those two name: ffmpeg must never open it
    directory: Path


def _testsrc(size: str, rate: int, seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={rate}:d={seconds}"]


def _sine(seconds: float, freq: int = 440) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=f={freq}:d={seconds}:sample_rate=48000"]


X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "15"]


@pytest.fixture(scope="session")
def clips(ffmpeg: Ffmpeg, tmp_path_factory: pytest.TempPathFactory) -> Clips:
    d = tmp_path_factory.mktemp("clips")
    ff = ffmpeg.path
    land = d / "landscape.mp4"
    make(ff, *_testsrc("1280x720", 25, 4), *_sine(4), *X264, "-c:a", "aac", "-b:a", "192k",
          "-shortest", str(land))
    portrait = d / "portrait.mp4"
    make(ff, "-display_rotation:v:0", "90", "-i", str(land), "-c", "copy", str(portrait))
    silent = d / "silent.mp4"
    make(ff, *_testsrc("640x360", 25, 2), *X264, str(silent))
    two = d / "two_audio.mp4"
    make(ff, *_testsrc("640x360", 25, 2), *_sine(2), *_sine(2, 880), "-map", "0:v", "-map", "1:a",
          "-map", "2:a", *X264, "-c:a", "aac", str(two))
    vfr = d / "vfr.mp4"
    make(ff, *_testsrc("320x240", 30, 1), *_testsrc("320x240", 10, 1), "-filter_complex",
          "[0][1]concat=n=2:v=1:a=0", "-fps_mode", "passthrough", *X264, str(vfr))
    odd = d / "odd.mp4"
    make(ff, *_testsrc("320x240", 25, 2), "-vf", "scale=321:241", *X264, "-pix_fmt", "yuv444p",
          str(odd))
    no_duration = d / "piped.mkv"
    make(ff, *_testsrc("320x240", 25, 2), *X264, "-f", "matroska", "pipe:1", out=no_duration)
    hdr = None
    if ffmpeg.has_x265:
        hdr = d / "hdr.mp4"
        make(ff, *_testsrc("640x360", 25, 2), "-vf",
              "setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc,"
              "format=yuv420p10le", "-c:v", "libx265", "-x265-params", "log-level=error",
              "-tag:v", "hvc1", str(hdr))
    text = d / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    referenced = d / "secret" / "referenced.mp4"
    referenced.parent.mkdir()
    referenced.write_bytes(silent.read_bytes())
    playlist = d / "playlist.mp4"
    playlist.write_text(hls_playlist(str(referenced), "http://127.0.0.1:9/x.ts"))
    concat = d / "concat.mp4"
    concat.write_text(f"ffconcat version 1.0\nfile '{referenced}'\n")
    return Clips(land, portrait, silent, two, vfr, odd, no_duration, hdr, text, playlist, concat,
                 referenced, d)


@pytest.fixture
def engine(ffmpeg: Ffmpeg, tmp_path: Path) -> Engine:
    work = tmp_path / "work"
    work.mkdir()
    return Engine(ffmpeg, work)
