"""Local video compression with ffmpeg; knows nothing of Telegram or the backend."""

from bot.compress.engine import Engine
from bot.compress.errors import CompressError, EncodeFailed, NotAVideo, TargetUnreachable
from bot.compress.ffmpeg import Ffmpeg, find_ffmpeg
from bot.compress.request import parse_request, preset_request
from bot.compress.types import Probe, Progress, Request, Result

__all__ = [
    "CompressError",
    "EncodeFailed",
    "Engine",
    "Ffmpeg",
    "NotAVideo",
    "Probe",
    "Progress",
    "Request",
    "Result",
    "TargetUnreachable",
    "find_ffmpeg",
    "parse_request",
    "preset_request",
]
