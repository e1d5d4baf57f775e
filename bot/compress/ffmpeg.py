"""Finding an ffmpeg binary and what it can do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ffmpeg:
    """A found binary and what it can do."""

    path: str
    version: str
    encoders: frozenset[str]
    filters: frozenset[str]

    @property
    def has_x264(self) -> bool:
        return "libx264" in self.encoders

    @property
    def has_x265(self) -> bool:
        return "libx265" in self.encoders

    @property
    def can_tonemap(self) -> bool:
        return {"zscale", "tonemap"} <= self.filters


def find_ffmpeg(configured: str | None = None) -> Ffmpeg | None:
    """The configured path, else ``ffmpeg`` on PATH, else imageio-ffmpeg's binary; None if none runs."""
    raise NotImplementedError
