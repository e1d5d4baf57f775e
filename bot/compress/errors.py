"""The engine's exceptions: one per thing the caller decides differently on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.compress.types import Result


class CompressError(Exception):
    """Base of every engine error."""


class NotAVideo(CompressError):
    """The file has no decodable video stream or is not a real container format."""


class EncodeFailed(CompressError):
    """ffmpeg failed or timed out; the message is short and never contains ffmpeg's output."""


class TargetUnreachable(CompressError):
    """The size target cannot be met at a sane quality; ``smallest`` is the best attempt made."""

    def __init__(self, message: str, smallest: Result | None = None) -> None:
        super().__init__(message)
        self.smallest: Result | None = smallest
