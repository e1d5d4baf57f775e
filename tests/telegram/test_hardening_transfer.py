"""Transfers under faults a soak does not throw (issue 23): a full disk, a 5xx that was
applied, slow local Bot API answers, a rebinding DNS, starving pools, a big public export."""

from __future__ import annotations

import contextlib
import resource
import signal
from collections.abc import Iterator
from pathlib import Path

from bot.sandbox.backend import make_draft
from bot.sandbox.harness import Harness

ALICE = 3001
BOB = 3002
MB = 1024 * 1024
CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(10_000)


async def ready_to_export(h: Harness, chat_id: int = ALICE) -> None:
    """A project with one clip and a draft, so /export renders."""
    await h.tg.send_video(chat_id, CLIP, file_name="a.mp4")
    await h.tg.wait_for_message(chat_id, contains="Received", timeout=15)
    await h.idle()
    session = next(s for s in h.backend.sessions.values() if s.uploads)
    h.backend.set_draft(session.session_id, make_draft())


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """No file of this process may grow past ``limit`` bytes: the kernel answers EFBIG, as
    a full disk answers ENOSPC (SIGXFSZ ignored, so the write fails instead of killing)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)


# -- 5: a local failure while downloading the export -----------------------------------------


async def test_disk_full_while_downloading_the_export_still_gives_the_link(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, temp_dir=tmp_path / "tmp") as h:
        h.backend.render_size = 12 * MB
        await ready_to_export(h)
        with file_size_limit(4 * MB):
            await h.tg.send_text(ALICE, "/export")
            link = await h.tg.wait_for_message(ALICE, contains="Download it here", timeout=30)
            await h.idle()
        assert link.buttons and link.buttons[0]["url"].endswith(".mp4")
        assert not h.tg.calls_of("sendVideo")
        assert not [m for m in h.tg.messages(ALICE) if "went wrong" in (m.text or "")]
