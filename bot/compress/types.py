"""Plain values the engine takes and gives: nothing of Telegram or the backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Request:
    """What was asked, Telegram-free; ``Request()`` is "smaller without losing quality"."""

    target_bytes: int | None = None
    percent: int | None = None
    max_short_side: int | None = None
    codec: str = "h264"
    mute: bool = False


@dataclass(frozen=True)
class Probe:
    """What the input is; width/height are the DISPLAY size (after rotation)."""

    duration: float
    width: int
    height: int
    rotation: int
    fps: float | None
    vfr: bool
    video_codec: str
    pix_fmt: str
    ten_bit: bool
    hdr: bool
    audio_streams: int
    size: int
    container: str


@dataclass(frozen=True)
class Progress:
    """One progress report of a running encode."""

    fraction: float | None
    eta_seconds: float | None
    speed: float | None
    passes: str = ""


@dataclass(frozen=True)
class Result:
    """A finished output file; the caller owns (and deletes) ``path``."""

    path: Path
    size: int
    input_size: int
    width: int
    height: int
    duration: float
    codec: str
    target_bytes: int | None

    @property
    def smaller(self) -> bool:
        return self.size < self.input_size

    @property
    def fits(self) -> bool:
        return self.target_bytes is None or self.size <= self.target_bytes
