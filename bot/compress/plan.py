"""From what was asked and what the file is to one ffmpeg command line.

Choices, and why:

- ``libx264 -preset veryfast``: on a small shared server (the bot's usual home, 1-2 cores) it
  encodes 1080p several times faster than ``medium`` for files ~10-15 % larger at the same CRF;
  ``ultrafast`` (what most compressor bots use) is faster still but loses so much efficiency that
  a size target costs visibly more quality (see docs/benchmarks.md).
- CRF 23 (x264's own default, the seed's "smaller without losing quality"); x265 CRF 28 is its
  documented equivalent. A size target uses single-pass ABR with a VBV cap, then the output is
  measured and re-encoded lower if it is over: one pass in the usual case, where two-pass would
  always cost two.
- Short side capped at 1080 unless asked otherwise, never upscaled; explicit even dimensions
  (yuv420p needs them; odd phone crops exist).
- ffmpeg autorotates: the display matrix is applied before our filters and the output is stored
  upright, so a portrait clip stays portrait in every player (even those ignoring rotation tags).
- HDR/10-bit: ``yuv420p`` 8-bit plays everywhere; tonemapped (zscale + hable) when the build has
  the filters, else a plain format conversion (a bit flat, but correct geometry and sync).
- ``-fps_mode passthrough``: every frame keeps its timestamp, so a phone's variable frame rate
  stays in sync with its audio and nothing is duplicated to a constant rate.
- The first video stream and the first audio stream only: a second track (commentary, a phone's
  spatial mix) is rarely what a chat plays, costs bytes the target cannot spare, and Telegram's
  players play one. AAC stereo; metadata dropped (a phone's GPS location has no business in a
  shared copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.compress.ffmpeg import Ffmpeg
from bot.compress.probe import Inspected, input_guard, input_url
from bot.compress.types import Probe, Request

DEFAULT_SHORT_SIDE = 1080
LADDER = (2160, 1440, 1080, 720, 540, 480, 360, 240)
# The lowest h264 video bitrate (kbps) still worth watching at each short side; HEVC needs ~60 %.
FLOOR_KBPS = {2160: 2500, 1440: 1200, 1080: 500, 720: 250, 540: 160, 480: 110, 360: 70, 240: 45}
H265_FLOOR_FACTOR = 0.6
PRESET = "veryfast"
CRF = {"h264": 23, "h265": 28}
# Container overhead (mp4 tables, interleaving) and a safety margin for ABR's error.
OVERHEAD_FRACTION = 0.04
OVERHEAD_BYTES = 24_000
TONEMAP = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,"
    "zscale=t=bt709:m=bt709:r=tv"
)


@dataclass(frozen=True)
class Plan:
    """One encode: output size, codec, and either a CRF or a video bitrate."""

    codec: str
    width: int
    height: int
    crf: int | None
    video_kbps: int | None
    audio_kbps: int  # 0: no audio track in the output
    tonemap: bool


def even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def fit(probe: Probe, short_cap: int) -> tuple[int, int]:
    """Display size with the short side at most ``short_cap``, both sides even, never upscaled."""
    short, long_ = sorted((probe.width, probe.height))
    new_short = even(min(short, short_cap))
    new_long = even(round(long_ * new_short / short / 2) * 2)
    return (new_short, new_long) if probe.width <= probe.height else (new_long, new_short)


def codec_for(request: Request, ffmpeg: Ffmpeg) -> str:
    """h265 when asked and the build has libx265, else h264 (it plays everywhere)."""
    return "h265" if request.codec == "h265" and ffmpeg.has_x265 else "h264"


def short_cap(request: Request, operator_cap: int | None) -> int:
    cap = request.max_short_side or DEFAULT_SHORT_SIDE
    return min(cap, operator_cap) if operator_cap else cap


def floor_kbps(short: int, codec: str) -> float:
    """Scaled by area from the nearest rung at or above ``short``."""
    rung = min((r for r in LADDER if r >= short), default=LADDER[0])
    base = FLOOR_KBPS[rung] * min(1.0, short / rung) ** 2
    return base * (H265_FLOOR_FACTOR if codec == "h265" else 1.0)


def wants_audio(probe: Probe, request: Request) -> bool:
    return probe.audio_streams > 0 and not request.mute


def audio_for_budget(total_kbps: float) -> int:
    """AAC bitrate for a total budget: ~10 % of it at most, 32-128 kbps."""
    for kbps in (128, 96, 64, 48):
        if total_kbps >= kbps * 10:
            return kbps
    return 32


def budget_kbps(target_bytes: int, duration: float) -> float:
    """Total bitrate (audio + video) that fits ``target_bytes`` after container overhead."""
    usable = target_bytes * (1 - OVERHEAD_FRACTION) - OVERHEAD_BYTES
    return max(0.0, usable * 8 / duration / 1000)


def default_plan(inspected: Inspected, request: Request, ffmpeg: Ffmpeg, cap: int | None) -> Plan:
    """CRF encode at the capped resolution: the "smaller without losing quality" default."""
    probe = inspected.probe
    codec = codec_for(request, ffmpeg)
    width, height = fit(probe, short_cap(request, cap))
    audio = 128 if wants_audio(probe, request) else 0
    return Plan(codec, width, height, CRF[codec], None, audio, tonemap_for(inspected, ffmpeg))


def tonemap_for(inspected: Inspected, ffmpeg: Ffmpeg) -> bool:
    return inspected.probe.hdr and ffmpeg.can_tonemap


def target_plan(
    inspected: Inspected, request: Request, ffmpeg: Ffmpeg, cap: int | None, target_bytes: int,
    video_kbps: float | None = None,
) -> Plan | None:
    """ABR encode that should fit ``target_bytes``, downscaled until the bitrate is sane.

    ``video_kbps`` overrides the computed rate (a re-encode after an overshoot). None: no rung of
    the ladder has a sane bitrate for that target.
    """
    probe = inspected.probe
    codec = codec_for(request, ffmpeg)
    total = budget_kbps(target_bytes, probe.duration)
    audio = audio_for_budget(total) if wants_audio(probe, request) else 0
    video = video_kbps if video_kbps is not None else total - audio
    # Never aim above the source's own video rate: that would only make a bigger file.
    source_kbps = probe.size * 8 / probe.duration / 1000
    video = min(video, max(source_kbps - audio, 0.5 * source_kbps))
    width, height = fit(probe, short_cap(request, cap))
    short = min(width, height)
    rungs = [short] + [r for r in LADDER if r < short]
    for rung in rungs:
        if video >= floor_kbps(rung, codec):
            width, height = fit(probe, rung)
            return Plan(codec, width, height, None, int(video), audio,
                        tonemap_for(inspected, ffmpeg))
    return None


def smallest_plan(inspected: Inspected, request: Request, ffmpeg: Ffmpeg) -> Plan:
    """The smallest still-watchable encode: lowest rung at its floor bitrate, lean audio."""
    probe = inspected.probe
    codec = codec_for(request, ffmpeg)
    width, height = fit(probe, LADDER[-1])
    audio = 32 if wants_audio(probe, request) else 0
    return Plan(codec, width, height, None, int(floor_kbps(min(width, height), codec)), audio,
                tonemap_for(inspected, ffmpeg))


def _filters(inspected: Inspected, plan: Plan) -> str:
    probe = inspected.probe
    chain = []
    if (plan.width, plan.height) != (probe.width, probe.height):
        chain.append(f"scale={plan.width}:{plan.height}:flags=bicubic")
    if plan.tonemap:
        chain.append(TONEMAP)
    chain.append("format=yuv420p")
    return ",".join(chain)


def command(
    ffmpeg: Ffmpeg, inspected: Inspected, src: Path, out: Path, plan: Plan,
) -> list[str]:
    """The full argument list (never a shell): guarded input, one video, at most one audio."""
    argv = [ffmpeg.path, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
            "-progress", "pipe:1", *input_guard(), "-i", input_url(src),
            "-map", f"0:{inspected.video_index}"]
    if plan.audio_kbps:
        argv += ["-map", "0:a:0", "-c:a", "aac", "-b:a", f"{plan.audio_kbps}k",
                 "-ac", "2" if plan.audio_kbps >= 64 else "1"]
    else:
        argv += ["-an"]
    argv += ["-vf", _filters(inspected, plan), "-pix_fmt", "yuv420p"]
    if plan.codec == "h265":
        argv += ["-c:v", "libx265", "-preset", PRESET, "-tag:v", "hvc1",
                 "-x265-params", "log-level=error"]
    else:
        argv += ["-c:v", "libx264", "-preset", PRESET, "-profile:v", "high"]
    if plan.crf is not None:
        argv += ["-crf", str(plan.crf)]
    if plan.video_kbps is not None:
        kbps = plan.video_kbps
        argv += ["-b:v", f"{kbps}k", "-maxrate", f"{int(kbps * 1.5)}k",
                 "-bufsize", f"{kbps * 2}k"]
    if plan.tonemap:
        argv += ["-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709"]
    major = ffmpeg.major
    argv += ["-fps_mode", "passthrough"] if major is None or major >= 6 else ["-vsync", "0"]
    argv += ["-map_metadata", "-1", "-map_chapters", "-1", "-max_muxing_queue_size", "1024",
             "-movflags", "+faststart", "-f", "mp4", "-n", str(out)]
    return argv
