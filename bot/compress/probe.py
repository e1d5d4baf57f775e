"""What a file is, from ``ffmpeg -i`` (the imageio-ffmpeg wheel ships no ffprobe).

One cheap step: ``ffmpeg -i`` prints the container and streams (parsed here) while one frame of
the first real video stream is decoded (a stream ffmpeg lists but cannot decode is no video to
us); only when the container gives no duration (a piped Matroska, some WebM) the video packets are
stream-copied to ``null`` to read the last timestamp. Every call carries the input guard
(:func:`input_guard`): only local files, only real container formats.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from bot.compress import process
from bot.compress.errors import EncodeFailed, NotAVideo
from bot.compress.types import Probe

# Real audio/video containers (names as `ffmpeg -demuxers` spells them). Not here, on purpose:
# hls, dash, concat, ffconcat-like lists, image sequences, avisynth, tty, anything that names other
# files or URLs. The mov demuxer's external references (drefs) are off by default.
FORMATS = (
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts,mpeg,asf,ogg,mxf,nut,ivf,rm,"
    "h264,hevc,m4v,mpegvideo"
)
NOT_A_VIDEO = "This file is not a video I can read."
PROBE_TIMEOUT = 60.0
PROBE_STDERR = 256 * 1024
HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})


def input_guard() -> list[str]:
    """Input options that confine ffmpeg to local files and real containers (before ``-i``)."""
    return ["-protocol_whitelist", "file", "-format_whitelist", FORMATS]


def input_url(src: Path) -> str:
    """``file:`` + the absolute path: a name like ``http:x`` or ``concat:a|b`` stays a file name."""
    return "file:" + os.path.abspath(src)


@dataclass(frozen=True)
class Inspected:
    """A Probe plus what the planner needs and the caller does not."""

    probe: Probe
    video_index: int
    transfer: str
    primaries: str


_INPUT = re.compile(r"^Input #0, (\S+?), from ", re.M)
_DURATION = re.compile(r"^\s*Duration: (?:(\d+):(\d\d):(\d\d(?:\.\d+)?)|N/A)", re.M)
_STREAM = re.compile(r"^\s*Stream #0:(\d+)\S*?: (Video|Audio|Subtitle|Data|Attachment): (.*)$")
# Anchored: a metadata value saying "rotation of 90 degrees" must not count as side data.
_ROTATION = re.compile(r"^\s*(?:Display Matrix|displaymatrix): rotation of (-?[\d.]+) degrees",
                       re.I)
_SIZE = re.compile(r"(?<![\w.])(\d{1,5})x(\d{1,5})(?![\w.])")
_RATE = re.compile(r"(?<![\w.])([\d.]+)(k?) (fps|tbr)(?![\w])")


def _split(details: str) -> list[str]:
    """Split a stream line on ", " outside parentheses and brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(details):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append(details[start:i].strip())
            start = i + 1
    parts.append(details[start:].strip())
    return parts


def _rate(value: str, kilo: str) -> float:
    return float(value) * (1000 if kilo else 1)


@dataclass
class _Video:
    index: int
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: float | None
    tbr: float | None
    transfer: str
    primaries: str
    rotation: int


def _video(index: int, details: str) -> _Video | None:
    parts = _split(details)
    codec = parts[0].split()[0] if parts and parts[0] else ""
    pix_fmt, transfer, primaries = "", "", ""
    width = height = 0
    for part in parts[1:]:
        size = _SIZE.search(part)
        if size and not width:
            width, height = int(size.group(1)), int(size.group(2))
        elif not pix_fmt and re.match(r"^[a-z0-9_]+(\(|$)", part):
            pix_fmt = part.split("(")[0]
            colours = [t.strip() for t in part.partition("(")[2].rstrip(")").split(",")]
            for token in colours:
                if "/" in token:  # space/primaries/transfer
                    names = token.split("/")
                    primaries, transfer = names[1], names[2] if len(names) > 2 else ""
                elif token.startswith(("bt", "smpte", "arib")):  # all three the same
                    primaries = transfer = token
    rates = {m.group(3): _rate(m.group(1), m.group(2)) for m in _RATE.finditer(details)}
    if not codec or not width or not height:
        return None
    return _Video(index, codec, pix_fmt, width, height, rates.get("fps"), rates.get("tbr"),
                  transfer, primaries, 0)


def parse(stderr: str) -> tuple[str, float | None, _Video | None, int]:
    """Container, duration, first real video stream, audio stream count from ``-i`` output."""
    container_match = _INPUT.search(stderr)
    container = container_match.group(1).split(",")[0] if container_match else ""
    duration = None
    dmatch = _DURATION.search(stderr)
    if dmatch and dmatch.group(1) is not None:
        hours, minutes, seconds = dmatch.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    video: _Video | None = None
    audio = 0
    current: _Video | None = None
    for line in stderr.split("\nOutput #0", 1)[0].splitlines():
        stream = _STREAM.match(line)
        if stream:
            current = None
            kind, details = stream.group(2), stream.group(3)
            if kind == "Audio":
                audio += 1
            elif kind == "Video" and video is None and "(attached pic)" not in details:
                video = current = _video(int(stream.group(1)), details)
            continue
        rotation = _ROTATION.match(line)
        if rotation and current is not None:
            current.rotation = round(float(rotation.group(1)))
    return container, duration, video, audio


async def _ffmpeg(
    binary: str, src: Path, *args: str, on_block: process.OnBlock | None = None,
) -> process.Finished:
    argv = [binary, "-hide_banner", "-nostdin", *input_guard(), "-i", input_url(src), *args]
    try:
        return await process.run(argv, timeout=PROBE_TIMEOUT, on_block=on_block,
                                 stderr_limit=PROBE_STDERR)
    except process.Timeout:
        raise NotAVideo(NOT_A_VIDEO) from None
    except process.SpawnFailed:
        raise EncodeFailed("ffmpeg could not be started.") from None


async def _describe(binary: str, src: Path) -> tuple[process.Finished, int]:
    """``-i``'s description of ``src`` and how many frames of its first real video decoded.

    One process for both (probing costs the engine's overhead on short clips): ``0:V:0`` is the
    first video stream that is not a cover picture; ffmpeg exits 0 on an empty output too, so
    the decoded frame count is what says "this is a video".
    """
    frames: list[int] = []

    async def block(values: process.ProgressBlock) -> None:
        if values.get("frame", "").isdigit():
            frames.append(int(values["frame"]))

    done = await _ffmpeg(binary, src, "-map", "0:V:0", "-frames:v", "1", "-f", "null",
                         "-nostats", "-progress", "pipe:1", "-", on_block=block)
    return done, frames[-1] if done.returncode == 0 and frames else 0


async def _copy_duration(binary: str, src: Path, index: int) -> float | None:
    """The last timestamp of the video stream, by copying its packets to nowhere (no decoding)."""
    last: list[float] = []

    async def block(values: process.ProgressBlock) -> None:
        with_us = values.get("out_time_us") or values.get("out_time_ms")
        if with_us and with_us.lstrip("-").isdigit() and int(with_us) > 0:
            last.append(int(with_us) / 1_000_000)

    done = await _ffmpeg(binary, src, "-map", f"0:{index}", "-c", "copy", "-f", "null",
                         "-nostats", "-progress", "pipe:1", "-", on_block=block)
    return last[-1] if done.returncode == 0 and last else None


async def inspect(binary: str, src: Path) -> Inspected:
    """Probe ``src``; :class:`NotAVideo` when it has no video stream ffmpeg can decode."""
    try:
        size = os.stat(src).st_size
    except OSError:
        raise NotAVideo(NOT_A_VIDEO) from None
    info, frames = await _describe(binary, src)
    container, duration, video, audio = parse(info.stderr)
    if video is None or frames < 1:
        raise NotAVideo(NOT_A_VIDEO)
    if duration is None or duration <= 0:
        duration = await _copy_duration(binary, src, video.index)
    if duration is None or duration <= 0:
        raise NotAVideo(NOT_A_VIDEO)
    width, height = video.width, video.height
    if abs(video.rotation) % 180 == 90:
        width, height = height, width
    fps = video.fps or video.tbr
    vfr = bool(video.fps and video.tbr and abs(video.fps - video.tbr) > 0.01 * video.tbr)
    ten_bit = bool(re.search(r"p(9|10|12|14|16)(le|be)?$", video.pix_fmt))
    hdr = video.transfer in HDR_TRANSFERS or video.primaries == "bt2020"
    probe = Probe(
        duration=duration, width=width, height=height, rotation=video.rotation, fps=fps, vfr=vfr,
        video_codec=video.codec, pix_fmt=video.pix_fmt, ten_bit=ten_bit, hdr=hdr,
        audio_streams=audio, size=size, container=container,
    )
    return Inspected(probe, video.index, video.transfer, video.primaries)
