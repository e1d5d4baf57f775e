"""Telegram-side hardening (issue 23): big transfers in local Bot API mode, separate pools for
transfers and short calls, streamed delivery, 5xx on sends, supergroup migration."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox.harness import Harness

ALICE = 2301
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(300_000)
COMPRESS = "compress this video to a smaller file size without losing quality"
MB = 1024 * 1024


def texts(h: Harness, chat: int = ALICE) -> list[str]:
    return [m.text or "" for m in h.tg.messages(chat) if not m.deleted]


async def test_local_mode_big_transfers_outlast_the_default_read_timeout(tmp_path: Path) -> None:
    """A local Bot API server answers getFile only once it has fetched the file, and sendVideo
    only once it has sent it: for a big file both take longer than python-telegram-bot's
    default 5 s read timeout. The upload and the one video still go through, and no link is
    offered as a second copy."""
    async with Harness(tmp_path, telegram_local_mode=True, tg_options={"local_mode": True}) as h:
        h.backend.render_size = 60 * MB
        h.tg.stall_next("getFile", 6)
        h.tg.stall_next("sendVideo", 6)
        await h.tg.send_video(ALICE, VIDEO, declared_size=300 * MB, caption=COMPRESS)
        await h.tg.wait_for_message(ALICE, kind="video", timeout=40)
        await h.idle(timeout=20)
        assert len(h.backend.requests_to("upload")) == 1
        assert len([c for c in h.tg.calls_of("sendVideo")]) == 1
        assert not [t for t in texts(h) if "may be missing" in t or "Sorry" in t]
