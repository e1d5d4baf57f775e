"""The engine: probe a file, plan an encode, run ffmpeg with progress, cancel and timeout.

A size target is a promise about every byte, so the output is measured, not trusted: single-pass
ABR aimed a little under the budget, then, if the file is still over, a re-encode at a rate
scaled by how far it overshot (at most MAX_PASSES encodes), downscaling when the rate would drop
below what is watchable at that size. When no sane encode fits, TargetUnreachable carries the
smallest file made so the caller can still offer it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from bot.compress import plan as planner
from bot.compress import process
from bot.compress.errors import EncodeFailed, TargetUnreachable
from bot.compress.ffmpeg import Ffmpeg
from bot.compress.plan import Plan
from bot.compress.probe import Inspected, inspect
from bot.compress.types import Probe, Progress, Request, Result

log = logging.getLogger(__name__)

MAX_PASSES = 3
PROGRESS_INTERVAL = 0.5
# A re-encode aims this much further under the budget than the measured overshoot says.
RETRY_MARGIN = 0.96

OnProgress = Callable[[Progress], Awaitable[None]]


def _number(text: str | None, suffix: str = "") -> float | None:
    if not text:
        return None
    try:
        return float(text.strip().removesuffix(suffix))
    except ValueError:
        return None


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


class Engine:
    """Compresses local files with one ffmpeg binary, writing into ``work_dir``."""

    def __init__(
        self,
        ffmpeg: Ffmpeg,
        work_dir: Path,
        *,
        niceness: int = 10,
        timeout_factor: float = 10.0,
        min_timeout: float = 120.0,
    ) -> None:
        self.ffmpeg = ffmpeg
        self.work_dir = work_dir
        self.niceness = niceness
        self.timeout_factor = timeout_factor
        self.min_timeout = min_timeout

    async def probe(self, src: Path) -> Probe:
        """What ``src`` is; raises NotAVideo."""
        return (await inspect(self.ffmpeg.path, src)).probe

    async def compress(
        self,
        src: Path,
        request: Request,
        *,
        on_progress: OnProgress | None = None,
        max_short_side: int | None = None,
    ) -> Result:
        """Compress ``src`` as asked into a fresh file in ``work_dir``.

        Raises NotAVideo, EncodeFailed (also on timeout), TargetUnreachable; a cancel kills the
        encoder's process group, deletes every file this call made, and propagates.
        """
        inspected = await inspect(self.ffmpeg.path, src)
        probe = inspected.probe
        target = request.target_bytes
        if target is None and request.percent is not None:
            target = max(1, probe.size * request.percent // 100)
        if target is None:
            plan = planner.default_plan(inspected, request, self.ffmpeg, max_short_side)
            return await self._encode(src, inspected, plan, target, on_progress, "")
        return await self._fit(src, inspected, request, target, max_short_side, on_progress)

    async def _fit(
        self, src: Path, inspected: Inspected, request: Request, target: int,
        cap: int | None, on_progress: OnProgress | None,
    ) -> Result:
        made: list[Result] = []
        delivered: Result | None = None
        try:
            if target >= inspected.probe.size:
                # A generous target: the quality default may already fit, at no quality cost.
                plan = planner.default_plan(inspected, request, self.ffmpeg, cap)
                made.append(await self._encode(src, inspected, plan, target, on_progress, ""))
                if made[-1].fits:
                    delivered = made[-1]
                    return delivered
            next_plan = planner.target_plan(inspected, request, self.ffmpeg, cap, target)
            if next_plan is None and not made:
                smallest = planner.smallest_plan(inspected, request, self.ffmpeg)
                made.append(await self._encode(src, inspected, smallest, target, on_progress, ""))
                if made[-1].fits:
                    delivered = made[-1]
                    return delivered
            while next_plan is not None and len(made) < MAX_PASSES:
                passes = f"{len(made) + 1}/{MAX_PASSES}" if made else ""
                result = await self._encode(src, inspected, next_plan, target, on_progress, passes)
                made.append(result)
                if result.fits:
                    delivered = result
                    return delivered
                log.info("encode %s over target: %d > %d bytes", passes or "1", result.size, target)
                next_plan = self._lower(inspected, request, cap, target, next_plan, result)
            delivered = min(made, key=lambda r: r.size)
            raise TargetUnreachable(
                "The size target cannot be reached at a watchable quality.", smallest=delivered)
        finally:
            for result in made:
                if result is not delivered:
                    _unlink(result.path)

    def _lower(
        self, inspected: Inspected, request: Request, cap: int | None, target: int,
        last: Plan, result: Result,
    ) -> Plan | None:
        """The next, lower plan after ``result`` came out over ``target``."""
        duration = inspected.probe.duration
        audio_bytes = last.audio_kbps * 1000 / 8 * duration
        budget = target * (1 - planner.OVERHEAD_FRACTION) - planner.OVERHEAD_BYTES - audio_bytes
        video_bytes = max(1.0, result.size - planner.OVERHEAD_BYTES - audio_bytes)
        rate = last.video_kbps or (video_bytes * 8 / duration / 1000)
        lower = rate * max(0.0, budget) / video_bytes * RETRY_MARGIN
        return planner.target_plan(inspected, request, self.ffmpeg, cap, target, lower)

    def _timeout(self, duration: float) -> float:
        return max(self.min_timeout, duration * self.timeout_factor)

    async def _encode(
        self, src: Path, inspected: Inspected, plan: Plan, target: int | None,
        on_progress: OnProgress | None, passes: str,
    ) -> Result:
        """One ffmpeg run into a fresh file; a failed tonemap is retried as a plain conversion."""
        try:
            out = await self._run(src, inspected, plan, on_progress, passes)
        except EncodeFailed:
            if not plan.tonemap:
                raise
            log.info("tonemapping failed; converting without it")
            plan = replace(plan, tonemap=False)
            out = await self._run(src, inspected, plan, on_progress, passes)
        probe = inspected.probe
        return Result(path=out, size=out.stat().st_size, input_size=probe.size, width=plan.width,
                      height=plan.height, duration=probe.duration, codec=plan.codec,
                      target_bytes=target)

    async def _run(
        self, src: Path, inspected: Inspected, plan: Plan, on_progress: OnProgress | None,
        passes: str,
    ) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # Never derived from the user's file name: nothing they chose reaches the command line.
        out = self.work_dir / f"{uuid.uuid4().hex}.mp4"
        argv = planner.command(self.ffmpeg, inspected, src, out, plan)
        duration = inspected.probe.duration
        handler = self._progress(duration, on_progress, passes) if on_progress else None
        ok = False
        try:
            done = await process.run(argv, timeout=self._timeout(duration),
                                     niceness=self.niceness, on_block=handler)
            if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
                log.warning("ffmpeg exited %s: %s", done.returncode, done.stderr[-1500:])
                raise EncodeFailed("The video could not be encoded.")
            ok = True
            return out
        except process.Timeout:
            raise EncodeFailed("The encode took too long and was stopped.") from None
        except process.SpawnFailed:
            raise EncodeFailed("ffmpeg could not be started.") from None
        finally:
            if not ok:
                _unlink(out)

    def _progress(
        self, duration: float, on_progress: OnProgress, passes: str,
    ) -> process.OnBlock:
        """Turns ``-progress`` blocks into Progress calls, at most one per PROGRESS_INTERVAL."""
        loop = asyncio.get_running_loop()
        last = [float("-inf")]

        async def block(values: process.ProgressBlock) -> None:
            end = values.get("progress") == "end"
            now = loop.time()
            if not end and now - last[0] < PROGRESS_INTERVAL:
                return
            last[0] = now
            micros = _number(values.get("out_time_us")) or _number(values.get("out_time_ms"))
            done_s = micros / 1_000_000 if micros is not None and micros >= 0 else None
            speed = _number(values.get("speed"), "x")
            speed = speed if speed and speed > 0 else None
            if end:
                fraction, eta = 1.0, 0.0
            elif done_s is None:
                fraction, eta = None, None
            else:
                fraction = min(1.0, done_s / duration)
                eta = max(0.0, duration - done_s) / speed if speed else None
            try:
                await on_progress(Progress(fraction, eta, speed, passes))
            except Exception:  # a status message that fails to update must not fail the encode
                log.exception("progress callback failed")

        return block
