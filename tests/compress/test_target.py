"""A size target is a promise about every byte: measured, re-encoded lower, or refused."""

from __future__ import annotations

import pytest

from bot.compress import Engine, Progress, Request, TargetUnreachable
from bot.compress import plan as planner
from tests.compress.conftest import Clips


def files(engine: Engine) -> list[str]:
    return sorted(p.name for p in engine.work_dir.iterdir())


async def test_target_kept(engine: Engine, clips: Clips) -> None:
    target = 1_000_000  # a 4.9 MB, 4 s 720p clip into 1 MB
    result = await engine.compress(clips.landscape, Request(target_bytes=target))
    assert result.size <= target and result.fits
    assert result.target_bytes == target
    assert result.size > target * 0.6  # the budget is used, not thrown away
    assert files(engine) == [result.path.name]
    out = await engine.probe(result.path)
    assert out.audio_streams == 1 and out.duration == pytest.approx(4.0, abs=0.15)


async def test_tight_target_downscales(engine: Engine, clips: Clips) -> None:
    target = 150_000  # ~240 kbps in all: not enough for 720p, fine for a smaller size
    result = await engine.compress(clips.landscape, Request(target_bytes=target))
    assert result.size <= target
    assert result.height < 720


async def test_percent(engine: Engine, clips: Clips) -> None:
    result = await engine.compress(clips.landscape, Request(percent=25))
    assert result.target_bytes == clips.landscape.stat().st_size * 25 // 100
    assert result.size <= result.target_bytes


async def test_generous_target_is_the_quality_default(engine: Engine, clips: Clips) -> None:
    target = clips.landscape.stat().st_size * 2
    result = await engine.compress(clips.landscape, Request(target_bytes=target))
    default = await engine.compress(clips.landscape, Request())
    assert result.fits and result.size == pytest.approx(default.size, rel=0.02)


async def test_over_target_is_encoded_again_lower(
    engine: Engine, clips: Clips, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first pass is made to aim 60 % over (as ABR can on short, hard clips): it is measured,
    found over, and encoded again lower; only the fitting file is left."""
    real = planner.budget_kbps
    calls: list[float] = []

    def overshooting(target_bytes: int, duration: float) -> float:
        calls.append(duration)
        return real(target_bytes, duration) * (1.6 if len(calls) == 1 else 1.0)

    monkeypatch.setattr(planner, "budget_kbps", overshooting)
    seen: list[Progress] = []

    async def on_progress(progress: Progress) -> None:
        seen.append(progress)

    target = 1_000_000
    result = await engine.compress(clips.landscape, Request(target_bytes=target),
                                   on_progress=on_progress)
    assert result.size <= target
    passes = {p.passes for p in seen}
    assert "" in passes and "2/3" in passes, passes
    assert files(engine) == [result.path.name]


async def test_unreachable_offers_the_smallest(engine: Engine, clips: Clips) -> None:
    target = 20_000
    with pytest.raises(TargetUnreachable) as caught:
        await engine.compress(clips.landscape, Request(target_bytes=target))
    smallest = caught.value.smallest
    assert smallest is not None and not smallest.fits
    assert smallest.size > target and smallest.path.is_file()
    assert min(smallest.width, smallest.height) <= 240
    assert files(engine) == [smallest.path.name]
    assert "watchable" in str(caught.value)
