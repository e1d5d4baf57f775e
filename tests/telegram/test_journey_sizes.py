"""An export is never passed off as a saving (issue 22): over the size asked for, it says so
and offers to fit it here; no smaller than the original, it says that instead of "−x %"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.harness import Harness

ALICE = 5301
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(400_000)


async def test_an_export_over_the_size_asked_for_says_so_and_offers_to_fit_it(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, local_compression="fallback") as h:
        h.backend.render_size = 300_000
        await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", duration=8,
                              caption="compress it to under 0.2 MB")
        video = await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
        text = video.text or ""
        assert "over the 200.0 kB you asked for" in text, text
        assert "−" not in text.split("\n\n")[0]
        (fit,) = video.buttons
        assert fit["text"] == "🗜 Fit it to 200.0 kB here"
        assert str(fit["callback_data"]).startswith("fit:200000:")


async def test_without_local_compression_there_is_no_fit_button(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:  # LOCAL_COMPRESSION=off in the harness
        h.backend.render_size = 300_000
        await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", duration=8,
                              caption="compress it to under 0.2 MB")
        video = await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
        assert "over the 200.0 kB you asked for" in (video.text or "")
        assert not video.buttons


async def test_an_export_no_smaller_than_the_original_says_so(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.backend.render_size = 500_000
        await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", duration=8,
                              caption="make it smaller")
        video = await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
        text = video.text or ""
        assert "It is not smaller than your original (400.0 kB)" in text, text
        assert "%" not in text and "→" not in text


@pytest.mark.parametrize(("options", "limit"), [
    ({}, "up to 20 MB"),  # the public Bot API lets bots fetch 20 MB
    ({"telegram_local_mode": True, "tg_options": {"local_mode": True}}, "up to 500 MB"),
    ({"telegram_local_mode": True, "tg_options": {"local_mode": True},
      "local_compression": "always"}, "up to 2000 MB"),  # no backend limit then
])
async def test_the_welcome_and_help_state_this_deployments_limit(
    tmp_path: Path, options: dict[str, Any], limit: str
) -> None:
    async with Harness(tmp_path, **options) as h:
        await h.tg.send_text(ALICE, "/start")
        welcome = await h.tg.wait_for_message(ALICE, contains="Hi!")
        await h.tg.send_text(ALICE, "/help")
        help_ = await h.tg.wait_for_message(ALICE, contains="Supported formats")
    assert f"({limit};" in (welcome.text or "")
    assert f"{limit.replace('up to', 'Up to')}." in (help_.text or "")


async def test_too_large_for_telegram_offers_a_link_only_where_a_link_works(
    tmp_path: Path,
) -> None:
    for mode, link in (("off", True), ("always", False)):
        async with Harness(tmp_path / mode, local_compression=mode) as h:
            await h.tg.send_video(ALICE, b"", declared_size=30_000_000, file_name="big.mp4")
            reply = await h.tg.wait_for_message(ALICE, contains="up to 20 MB", timeout=20)
        assert ("link" in (reply.text or "")) is link, reply.text
