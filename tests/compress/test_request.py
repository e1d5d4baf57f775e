"""parse_request / preset_request: what a person types, in English and Chinese."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.compress import Request, parse_request, preset_request

MB = 1_000_000


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("under 16 MB please", 16 * MB),
        ("compress to 25mb", 25 * MB),
        ("below 8 MB", 8 * MB),
        ("make it 10 MB", 10 * MB),
        ("1.5 GB max", 1_500_000_000),
        ("压缩到10兆", 10 * MB),
        ("20MB以内", 20 * MB),
        ("小于 16 MB", 16 * MB),
        ("不超过9M", 9 * MB),
        ("１６ＭＢ", 16 * MB),  # full-width
        ("500 KB", 500_000),
    ],
)
def test_sizes(text: str, target: int) -> None:
    assert parse_request(text).target_bytes == target
    assert parse_request(text).percent is None


@pytest.mark.parametrize("text", ["16 Mbps bitrate", "5 minutes", "16 ms", "in 4k", "0 MB", "3 kb"])
def test_not_sizes(text: str) -> None:
    assert parse_request(text).target_bytes is None


@pytest.mark.parametrize(
    ("text", "percent"),
    [("50 %", 50), ("30%", 30), ("百分之30", 30), ("百分之五十", 50), ("压缩到百分之二十五", 25),
     ("half the size", 50), ("一半", 50), ("40 percent", 40)],
)
def test_percent(text: str, percent: int) -> None:
    assert parse_request(text).percent == percent


def test_size_wins_over_percent() -> None:
    assert parse_request("50% or under 10 MB") == Request(target_bytes=10 * MB)


@pytest.mark.parametrize(("text", "side"), [("720p", 720), ("to 480P", 480), ("1080p h265", 1080),
                                            ("转成720p", 720), ("1234p", None)])
def test_resolution(text: str, side: int | None) -> None:
    assert parse_request(text).max_short_side == side


@pytest.mark.parametrize("text", ["H.265", "hevc please", "h265", "x265", "用H265"])
def test_h265(text: str) -> None:
    assert parse_request(text).codec == "h265"


@pytest.mark.parametrize("text", ["mute", "no audio", "without sound", "remove the audio", "静音",
                                  "去掉声音", "无声", "靜音"])
def test_mute(text: str) -> None:
    assert parse_request(text).mute


@pytest.mark.parametrize("text", ["", "make it smaller", "压缩一下", "hello", "please 😀", "1080"])
def test_default(text: str) -> None:
    assert parse_request(text) == Request()


def test_everything_at_once() -> None:
    assert parse_request("720p HEVC under 8 MB, no audio") == Request(
        target_bytes=8 * MB, max_short_side=720, codec="h265", mute=True)


def test_presets() -> None:
    assert preset_request("small") == Request()
    assert preset_request("16") == Request(target_bytes=16 * MB)
    assert preset_request("25").target_bytes == 25 * MB
    assert preset_request("10").target_bytes == 10 * MB
    assert preset_request("50").target_bytes == 50 * MB
    assert preset_request("720") == Request(max_short_side=720)
    with pytest.raises(ValueError):
        preset_request("nope")


@given(st.text())
def test_never_raises_and_in_range(text: str) -> None:
    request = parse_request(text)
    assert request.target_bytes is None or 100_000 <= request.target_bytes <= 100_000_000_000
    assert request.percent is None or 1 <= request.percent <= 99
    assert request.max_short_side is None or 144 <= request.max_short_side <= 2160
    assert request.codec in {"h264", "h265"}


@given(st.integers(1, 99), st.text(alphabet="abc xyz"))
def test_percent_anywhere(n: int, noise: str) -> None:
    assert parse_request(f"{noise} {n}% {noise}").percent == n
