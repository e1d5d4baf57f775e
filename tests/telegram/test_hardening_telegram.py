"""Telegram-side hardening (issue 23): big transfers in local Bot API mode, separate pools for
transfers and short calls, streamed delivery, 5xx on sends, supergroup migration."""

from __future__ import annotations

import asyncio
import tracemalloc
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


def _held_by_the_bot(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes allocated outside the fakes and their server (what the bot itself holds)."""
    held = 0
    for trace in snapshot.traces:
        files = [frame.filename for frame in trace.traceback]
        if not any("sandbox" in f or "aiohttp" in f or "tracemalloc" in f for f in files):
            held += trace.size
    return held


async def test_public_api_delivery_streams_the_export(h: Harness) -> None:
    """A 30 MB export goes to Telegram from its file in chunks, not read whole into memory
    (20 chats delivering at once would otherwise hold 1 GB)."""
    h.backend.render_size = 30 * MB
    h.tg.stall_next("sendVideo", 1.5)  # the upload is in flight while the bot is looked at
    tracemalloc.start(1)
    try:
        await h.tg.send_video(ALICE, VIDEO, caption=COMPRESS)
        await h.tg.wait_for(
            lambda: any(c.result for c in h.tg.calls_of("sendVideo")) or None, timeout=60
        )
        held = _held_by_the_bot(tracemalloc.take_snapshot())
    finally:
        tracemalloc.stop()
    await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    assert h.tg.calls_of("sendVideo")[0].files["video"].size == 30 * MB
    assert held < 10 * MB, f"the bot held {held / MB:.1f} MB while sending a 30 MB file"


async def test_big_uploads_do_not_starve_the_short_calls(h: Harness) -> None:
    """Twenty-five people upload at once, slowly: another chat's first message (its session
    is created by a short call) is still answered while every upload is in flight."""
    h.backend.upload_chunk_delay = 4.0
    for i in range(25):
        await h.tg.send_video(ALICE + 100 + i, VIDEO, file_name="clip.mp4")
    await h.tg.wait_for(lambda: len(h.backend.sessions) >= 25 or None, timeout=30)
    await asyncio.sleep(1)  # their uploads have begun
    await h.tg.send_text(ALICE, "tell me about the pacing")
    reply = await h.tg.wait_for_message(ALICE, contains="pacing", timeout=15)
    assert "I can help with that" in (reply.text or "")
    h.backend.upload_chunk_delay = 0
