"""The engine: probe a file, plan an encode, run ffmpeg with progress, cancel and timeout."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.compress.ffmpeg import Ffmpeg
from bot.compress.types import Probe, Progress, Request, Result


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
        raise NotImplementedError

    async def compress(
        self,
        src: Path,
        request: Request,
        *,
        on_progress: Callable[[Progress], Awaitable[None]] | None = None,
        max_short_side: int | None = None,
    ) -> Result:
        """Compress ``src`` as asked into a fresh file in ``work_dir``."""
        raise NotImplementedError
