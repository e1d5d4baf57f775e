"""Understanding a request without the agent: English and Chinese free text, and presets.

Deliberately small and predictable: a handful of patterns a person really types ("under 16 MB",
"压缩到10兆", "50%", "720p", "HEVC", "静音"). Anything not understood is the seed's default
("smaller without losing quality"), never an error: a chat's caption is free text.
MB means 1 000 000 bytes, the safe reading of a limit (a 16 MB cap in MiB would be larger).
"""

from __future__ import annotations

import re
import unicodedata

from bot.compress.types import Request

MB = 1_000_000
GB = 1_000_000_000
# A size below this cannot hold a video worth sending; above this is no "target" at all.
MIN_TARGET_BYTES = 100_000
MAX_TARGET_BYTES = 100 * GB
SHORT_SIDES = (2160, 1440, 1080, 720, 576, 540, 480, 360, 240, 144)

PRESETS: dict[str, Request] = {
    "small": Request(),
    "10": Request(target_bytes=10 * MB),
    "16": Request(target_bytes=16 * MB),
    "25": Request(target_bytes=25 * MB),
    "50": Request(target_bytes=50 * MB),
    "720": Request(max_short_side=720),
}

_NUM = r"(\d+(?:[.,]\d+)?)"
# "16 MB", "16mb", "16 M", "16兆", "1.5 GB", "16 megabytes"; not "16 mins" / "720p" / "16 ms"
_SIZE = re.compile(
    _NUM + r"\s*(gb|gib|g|mb|mib|m|megabytes?|megs?|兆字节|兆字節|兆|千兆|kb|k)(?![a-z])",
    re.IGNORECASE,
)
_PERCENT = re.compile(_NUM + r"\s*(?:%|％|percent|per\s*cent)", re.IGNORECASE)
_ZH_PERCENT = re.compile(r"百分之\s*(\d+|[零〇一二两兩三四五六七八九十]+)")
_HALF = re.compile(r"\bhalf\b|一半", re.IGNORECASE)
_RESOLUTION = re.compile(r"(?<!\d)(\d{3,4})\s*p(?![a-z])", re.IGNORECASE)
_K4 = re.compile(r"(?<![a-z0-9])4k(?![a-z0-9])", re.IGNORECASE)
_H265 = re.compile(r"h\.?\s?265|hevc|x265", re.IGNORECASE)
_MUTE = re.compile(
    r"\bmute\b|\bmuted\b|no\s+(?:audio|sound)|without\s+(?:the\s+)?(?:audio|sound)|"
    r"remove\s+(?:the\s+)?(?:audio|sound)|\bsilent\b|strip\s+(?:the\s+)?audio|"
    r"静音|靜音|无声|無聲|去掉声音|去掉聲音|去除声音|去除聲音|去掉音频|去掉音頻|不要声音|不要聲音|"
    r"删除声音|刪除聲音|没有声音|沒有聲音",
    re.IGNORECASE,
)

_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}


def _zh_number(text: str) -> int | None:
    """1..99 written in Chinese numerals ("五十", "三十五", "十"); None otherwise."""
    if text.isdigit():
        return int(text)
    if "十" not in text:
        return _ZH_DIGITS.get(text) if len(text) == 1 else None
    tens, _, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    high = _ZH_DIGITS.get(tens, -1) if tens else 1
    low = _ZH_DIGITS.get(ones, -1) if ones else 0
    return None if high < 0 or low < 0 else high * 10 + low


def _size(text: str) -> int | None:
    for match in _SIZE.finditer(text):
        number = float(match.group(1).replace(",", "."))
        unit = match.group(2).lower()
        if unit in {"k", "kb"}:
            scale = 1000
        elif unit in {"g", "gb", "gib", "千兆"}:
            scale = GB
        else:
            scale = MB
        value = int(number * scale)
        if MIN_TARGET_BYTES <= value <= MAX_TARGET_BYTES:
            return value
    return None


def _percent(text: str) -> int | None:
    for match in _PERCENT.finditer(text):
        value = float(match.group(1).replace(",", "."))
        if 1 <= value < 100:
            return int(value)
    for zh in _ZH_PERCENT.finditer(text):
        number = _zh_number(zh.group(1))
        if number is not None and 1 <= number < 100:
            return number
    if _HALF.search(text):
        return 50
    return None


def _short_side(text: str) -> int | None:
    for match in _RESOLUTION.finditer(text):
        value = int(match.group(1))
        if value in SHORT_SIDES:
            return value
    return 2160 if _K4.search(text) else None


def parse_request(text: str) -> Request:
    """What the text asks for; anything not understood gives ``Request()`` (the default).

    A size and a percentage together: the size wins (a hard limit is what the person must keep).
    """
    # NFKC folds full-width digits and letters ("１６ＭＢ") into ASCII first.
    folded = unicodedata.normalize("NFKC", text)
    target = _size(folded)
    percent = None if target is not None else _percent(folded)
    return Request(
        target_bytes=target,
        percent=percent,
        max_short_side=_short_side(folded),
        codec="h265" if _H265.search(folded) else "h264",
        mute=bool(_MUTE.search(folded)),
    )


def preset_request(key: str) -> Request:
    """The request behind one of the bot's preset buttons ("small", "10", "16", "25", "50", "720").

    An unknown key raises ValueError: a button's data is the bot's own, so a miss is a bug.
    """
    try:
        return PRESETS[key]
    except KeyError:
        raise ValueError(f"unknown preset {key!r}") from None
