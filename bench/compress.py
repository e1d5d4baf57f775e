"""Local compression: the engine against ffmpeg run directly, and against the peer recipe.

    python bench/compress.py                 # 10 s and 60 s 1080p clips
    python bench/compress.py --seconds 10    # one clip only

Not a timed test (this machine is shared and noisy): figures for docs/benchmarks.md.

Clips are made by ffmpeg from lavfi (testsrc2 with a little temporal noise, so the encoder has
camera-like grain to spend bits on, and a sine tone), 1920x1080 at 30 fps, encoded like a phone
would (x264 at ~16 Mbit/s). For each clip:

- **engine vs direct**: ``Engine.compress(Request())`` against the exact argument list the engine
  builds (``bot.compress.plan.command``) run directly with ``subprocess``, interleaved, median of
  ``--rounds``. The engine's figure includes its probe (``ffmpeg -i`` + one decoded frame), its
  progress parsing and its process-group handling: that is the overhead measured. Both at
  niceness 0, so the comparison is not skewed by the priority the bot gives ffmpeg.
- **presets**: the bot's buttons (small, 720, and two size targets scaled to the clip: the
  10 MB and 25 MB buttons for a 60 s clip, proportionally less for shorter ones).
- **peer**: the recipe most Telegram compressor bots run, ``-preset ultrafast -crf 28``.

SSIM is ffmpeg's ``ssim`` filter of each output (scaled back to 1080p) against the source.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.compress import Engine, Ffmpeg, Progress, Request, find_ffmpeg
from bot.compress import plan as planner
from bot.compress.probe import inspect

MB = 1_000_000


@dataclass
class Row:
    clip: str
    name: str
    seconds: float
    size: int
    ssim: float
    note: str = ""


def make_clip(ff: str, seconds: int, out: Path) -> None:
    subprocess.run(
        [ff, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=30:d={seconds}",
         "-f", "lavfi", "-i", f"sine=f=440:d={seconds}:sample_rate=48000",
         "-vf", "noise=alls=6:allf=t", "-c:v", "libx264", "-preset", "ultrafast",
         "-b:v", "16M", "-maxrate", "16M", "-bufsize", "32M", "-c:a", "aac", "-b:a", "192k",
         "-shortest", str(out)],
        check=True,
    )


def ssim(ff: str, out: Path, src: Path) -> float:
    done = subprocess.run(
        [ff, "-hide_banner", "-nostdin", "-i", str(out), "-i", str(src), "-lavfi",
         "[0:v]scale=1920:1080:flags=bicubic[o];[o][1:v]ssim", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )
    match = re.search(r"All:([\d.]+)", done.stderr)
    return float(match.group(1)) if match else float("nan")


def timed_run(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


PASSES: list[str] = []


async def engine_run(engine: Engine, src: Path, request: Request) -> tuple[float, Path, int]:
    """One compress; the encodes it needed (a re-encode after an overshoot) go to PASSES."""
    seen = {"1"}

    async def on_progress(progress: Progress) -> None:
        seen.add(progress.passes.partition("/")[0] or "1")

    start = time.perf_counter()
    result = await engine.compress(src, request, on_progress=on_progress)
    took = time.perf_counter() - start
    PASSES.append(max(seen))
    return took, result.path, result.size


async def bench_clip(ff: Ffmpeg, seconds: int, rounds: int, work: Path) -> list[Row]:
    src = work / f"src{seconds}.mp4"
    make_clip(ff.path, seconds, src)
    clip = f"{seconds} s 1080p ({src.stat().st_size / MB:.1f} MB)"
    engine = Engine(ff, work / "out", niceness=0)
    rows: list[Row] = []

    # engine vs the same command run directly, interleaved
    inspected = await inspect(ff.path, src)
    plan = planner.default_plan(inspected, Request(), ff, None)
    engine_times, direct_times = [], []
    for i in range(rounds):
        direct_out = work / f"direct{seconds}-{i}.mp4"
        direct_times.append(timed_run(planner.command(ff, inspected, src, direct_out, plan)))
        took, path, size = await engine_run(engine, src, Request())
        engine_times.append(took)
        if i < rounds - 1:
            path.unlink()
            direct_out.unlink()
    direct, mine = statistics.median(direct_times), statistics.median(engine_times)
    rows.append(Row(clip, "ffmpeg direct (engine's command)", direct,
                    direct_out.stat().st_size, ssim(ff.path, direct_out, src)))
    rows.append(Row(clip, "engine: small (default)", mine, size, ssim(ff.path, path, src),
                    f"{mine / direct:.3f}× direct"))

    scale = seconds / 60
    presets = [
        ("engine: 720", Request(max_short_side=720)),
        (f"engine: fit {10 * scale:.2f} MB (10 MB button at 60 s)",
         Request(target_bytes=int(10 * MB * scale))),
        (f"engine: fit {25 * scale:.2f} MB (25 MB button at 60 s)",
         Request(target_bytes=int(25 * MB * scale))),
    ]
    for name, request in presets:
        took, path, size = await engine_run(engine, src, request)
        note = ""
        if request.target_bytes:
            kept = "kept" if size <= request.target_bytes else "OVER"
            encodes = f"{PASSES[-1]} encode" + ("" if PASSES[-1] == "1" else "s")
            note = f"target {request.target_bytes:,} B: {kept}, {encodes}"
        rows.append(Row(clip, name, took, size, ssim(ff.path, path, src), note))

    peer_out = work / f"peer{seconds}.mp4"
    peer = [ff.path, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(src),
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28", "-c:a", "aac",
            "-b:a", "128k", "-movflags", "+faststart", str(peer_out)]
    took = timed_run(peer)
    rows.append(Row(clip, "peer: ultrafast CRF 28", took, peer_out.stat().st_size,
                    ssim(ff.path, peer_out, src)))
    return rows


def table(rows: list[Row], durations: dict[str, int]) -> str:
    lines = ["| clip | run | wall | × real time | size | SSIM | note |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row.clip} | {row.name} | {row.seconds:.1f} s | "
            f"{durations[row.clip] / row.seconds:.2f}× | {row.size / MB:.2f} MB | "
            f"{row.ssim:.4f} | {row.note} |")
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, action="append",
                        help="clip length (repeatable; default 10 and 60)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="engine/direct pairs per clip (median)")
    args = parser.parse_args()
    ff = find_ffmpeg()
    if ff is None:
        sys.exit("no ffmpeg found (pip install .[local])")
    print(f"ffmpeg {ff.version} at {ff.path}", file=sys.stderr)
    rows: list[Row] = []
    durations: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.seconds or [10, 60]:
            clip_rows = await bench_clip(ff, seconds, args.rounds, Path(tmp))
            durations[clip_rows[0].clip] = seconds
            rows += clip_rows
            print(f"done {seconds} s", file=sys.stderr)
    print(table(rows, durations))


if __name__ == "__main__":
    asyncio.run(main())
