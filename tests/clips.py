"""Test media made by ffmpeg itself (never committed): one way to run it, and playlists."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from bot.compress import Engine, Ffmpeg
from bot.sandbox.harness import Harness
from bot.sandbox.telegram import BotMessage


def make(ff: str, *args: str, out: Path | None = None) -> None:
    """Run ``ff`` quietly with ``args``; with ``out``, its standard output goes there."""
    argv = [ff, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    if out is None:
        subprocess.run(argv, check=True, timeout=120)
    else:
        with out.open("wb") as sink:
            subprocess.run(argv, check=True, timeout=120, stdout=sink)


def hls_playlist(*entries: str) -> str:
    """An HLS playlist naming ``entries`` (files or URLs): a "video" ffmpeg must refuse."""
    segments = "".join(f"#EXTINF:2.0,\n{entry}\n" for entry in entries)
    return ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
            f"{segments}#EXT-X-ENDLIST\n")


def local_options(**extra: Any) -> dict[str, Any]:
    """Harness options for LOCAL_COMPRESSION=always with a quick live status."""
    return {"local_compression": "always", "transfer_progress_seconds": 0.2, **extra}


async def probe_delivered(h: Harness, ffmpeg: Ffmpeg, message: BotMessage, tmp_path: Path) -> Any:
    """The engine's probe of a video the fake Telegram received."""
    assert message.file_id is not None
    content = h.tg.file_content(message.file_id)
    assert content is not None
    path = tmp_path / f"delivered-{message.message_id}.mp4"
    path.write_bytes(content)
    return await Engine(ffmpeg, tmp_path).probe(path)
