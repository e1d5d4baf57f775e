"""Big media through the real Application (issue 11): zero-copy uploads in local mode, the
streamed fallback, limits before any transfer, transfer progress, the quality hint, and
temporary files that never outlive their transfer or their process."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import signal
import sys
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.backend import make_draft
from bot.sandbox.harness import Harness
from bot.tempfiles import TempFiles

ALICE = 3001
BOB = 3002
MB = 1024 * 1024


def clip(size: int = 3 * MB) -> bytes:
    """Non-trivial bytes: a hash of zeros would prove nothing."""
    block = hashlib.sha256(b"clip").digest() * 2048
    return (block * (size // len(block) + 1))[:size]


def temp_files(base: Path) -> list[Path]:
    """Every file under the bot's temporary root except the run locks."""
    root = base / TempFiles.ROOT_NAME
    return [p for p in root.rglob("*") if p.is_file() and p.name != ".lock"]


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[Harness]:
    async with Harness(
        tmp_path,
        telegram_local_mode=True,
        tg_options={"local_mode": True},
        temp_dir=tmp_path / "tmp",
        transfer_progress_seconds=0.2,
    ) as h:
        yield h


async def test_local_mode_streams_the_file_from_its_path_with_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any temporary file the process makes (the bot's TEMP_DIR defaults to it) lands here.
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    data = clip(4 * MB + 7)
    source = tmp_path / "phone.mp4"
    source.write_bytes(data)

    def made() -> list[Path]:
        return [p for p in system_tmp.rglob("*") if p.is_file() and p.name != ".lock"]

    async with Harness(tmp_path, telegram_local_mode=True, tg_options={"local_mode": True}) as h:
        h.backend.upload_chunk_delay = 0.002  # long enough to look at the disk mid-transfer
        await h.tg.send_video(ALICE, b"", file_name="phone.mp4", source_path=source)
        await h.tg.wait_for(lambda: h.backend.requests_to("upload") or None)
        seen_during = made()
        await h.tg.wait_for_message(ALICE, contains="Received", timeout=30)

        (upload,) = h.backend.requests_to("upload")
        (received,) = upload.files
        assert (received.filename, received.size) == ("phone.mp4", len(data))
        assert received.sha256 == hashlib.sha256(data).hexdigest()
        assert h.tg.file_downloads == 0, "read from the path, not fetched over HTTP"
        assert seen_during == [] and made() == []
        assert (system_tmp / TempFiles.ROOT_NAME).is_dir(), "TEMP_DIR defaults to the system's"


async def test_unreadable_local_path_streams_from_the_file_url(tmp_path: Path) -> None:
    data = clip(3 * MB + 1)
    async with Harness(
        tmp_path,
        telegram_local_mode=True,
        tg_options={"local_mode": True, "local_files_elsewhere": True},
        temp_dir=tmp_path / "tmp",
    ) as h:
        await h.tg.send_video(ALICE, data, file_name="far.mp4")
        await h.tg.wait_for_message(ALICE, contains="Received", timeout=30)
        (received,) = h.backend.requests_to("upload")[0].files
        assert received.size == len(data)
        assert received.sha256 == hashlib.sha256(data).hexdigest()
        assert h.tg.file_downloads == 1
        assert temp_files(tmp_path / "tmp") == []


async def test_over_500_mb_is_refused_before_any_transfer(local: Harness) -> None:
    h = local
    await h.tg.send_video(ALICE, b"", file_name="huge.mp4", declared_size=600 * MB)
    refusal = await h.tg.wait_for_message(ALICE, contains="500 MB")
    assert "huge.mp4" in (refusal.text or "")
    await h.idle()
    assert h.tg.calls_of("getFile") == []
    assert h.backend.requests_to("upload") == []
    assert h.tg.file_downloads == 0


async def test_a_long_upload_shows_one_status_edited_with_percent_then_removed(
    local: Harness, tmp_path: Path
) -> None:
    h = local
    source = tmp_path / "long.mp4"
    # Big enough to outlast the loopback socket buffers (progress counts bytes handed to the
    # socket); 384 slow 64 KiB reads: about 1.5 s, several status intervals.
    source.write_bytes(clip(24 * MB))
    h.backend.upload_chunk_delay = 0.004
    await h.tg.send_video(ALICE, b"", file_name="long.mp4", source_path=source)
    await h.tg.wait_for_message(ALICE, contains="Received", timeout=30)
    await h.idle()
    # The job's live status (issue 22) shows the upload among its stages.
    status = next(m for m in h.tg.messages(ALICE)
                  if any("Uploading" in t for t in [*m.edits, m.text or ""]))
    shown = [t for t in [*status.edits, status.text or ""] if "Uploading" in t]
    assert all(s.startswith("📤 Uploading long.mp4… ") and s.endswith(" of 25.2 MB")
               for s in shown), shown
    percents = [int(s.split("… ")[1].split("%")[0]) for s in shown]
    assert len(percents) >= 2 and percents == sorted(set(percents)), percents
    assert status.deleted, "the status goes away when the upload is done"
    assert sum("Uploading" in (m.text or "") for m in h.tg.messages(ALICE)) == 1


async def test_a_quick_upload_shows_no_status(local: Harness) -> None:
    h = local
    await h.tg.send_video(ALICE, clip(MB), file_name="quick.mp4")
    await h.tg.wait_for_message(ALICE, contains="Received")
    assert not any("Uploading" in (m.text or "") for m in h.tg.messages(ALICE))


async def test_upload_status_is_in_the_persons_language(tmp_path: Path) -> None:
    async with Harness(tmp_path, transfer_progress_seconds=0.2) as h:
        h.backend.upload_chunk_delay = 0.05
        h.tg.user(ALICE, language_code="zh-hant")
        await h.tg.send_video(ALICE, clip(8 * MB), file_name="片段.mp4")
        await h.tg.wait_for_message(ALICE, contains="片段.mp4", timeout=30)
        await h.idle()
        status = next(m for m in h.tg.messages(ALICE) if "📤" in [*m.edits, m.text or ""][0])
        first = [*status.edits, status.text or ""][0]
        assert first.startswith("📤 正在上傳 片段.mp4… 8.4 MB 已完成")


async def test_quality_hint_once_per_chat_and_only_for_compressed_videos(h: Harness) -> None:
    hint = "send the video as a file"
    await h.tg.send_document(ALICE, clip(MB), file_name="original.mp4", mime_type="video/mp4")
    first = await h.tg.wait_for_message(ALICE, contains="Received")
    assert hint not in (first.text or "")
    await h.idle()
    await h.tg.send_video(ALICE, clip(MB), file_name="a.mp4")
    await h.tg.wait_for(lambda: sum("Received" in (m.text or "")
                                    for m in h.tg.messages(ALICE)) == 2 or None)
    await h.tg.send_video(ALICE, clip(MB), file_name="b.mp4")
    await h.tg.wait_for(lambda: sum("Received" in (m.text or "")
                                    for m in h.tg.messages(ALICE)) == 3 or None)
    acks = [m.text or "" for m in h.tg.messages(ALICE) if "Received" in (m.text or "")]
    assert [hint in a for a in acks] == [False, True, False]
    await h.tg.send_video(BOB, clip(MB), file_name="c.mp4")
    assert hint in ((await h.tg.wait_for_message(BOB, contains="Received")).text or "")


async def test_quality_hint_is_remembered_across_a_restart(h: Harness) -> None:
    await h.tg.send_video(ALICE, clip(MB), file_name="a.mp4")
    assert "as a file" in ((await h.tg.wait_for_message(ALICE, contains="Received")).text or "")
    await h.idle()
    await h.restart()
    await h.tg.send_video(ALICE, clip(MB), file_name="b.mp4")
    await h.tg.wait_for(lambda: sum("Received" in (m.text or "")
                                    for m in h.tg.messages(ALICE)) == 2 or None)
    last = [m.text or "" for m in h.tg.messages(ALICE) if "Received" in (m.text or "")][-1]
    assert "as a file" not in last


# -- temporary files ---------------------------------------------------------------------------


async def export_once(h: Harness) -> None:
    await h.tg.send_video(ALICE, clip(MB), file_name="a.mp4")
    await h.tg.wait_for_message(ALICE, contains="Received")
    await h.idle()
    session = next(iter(h.backend.sessions.values()))
    h.backend.set_draft(session.session_id, make_draft())
    await h.tg.send_text(ALICE, "/export")


async def test_export_temp_file_is_removed_after_delivery(tmp_path: Path) -> None:
    async with Harness(tmp_path, temp_dir=tmp_path / "tmp") as h:
        h.backend.render_size = 3 * MB
        await export_once(h)
        await h.tg.wait_for_message(ALICE, kind="video", timeout=30)
        await h.idle()
        assert temp_files(tmp_path / "tmp") == []


async def test_export_temp_file_is_removed_when_telegram_refuses_it(tmp_path: Path) -> None:
    async with Harness(tmp_path, temp_dir=tmp_path / "tmp") as h:
        h.backend.render_size = 3 * MB
        h.tg.upload_limit = MB  # Telegram answers 413: the person gets the link instead
        await export_once(h)
        await h.tg.wait_for_message(ALICE, contains="Download it here", timeout=30)
        await h.idle()
        assert h.tg.calls_of("sendVideo"), "the upload was tried"
        assert temp_files(tmp_path / "tmp") == []


async def test_orphans_of_a_killed_run_are_swept_at_start_and_live_runs_kept(
    tmp_path: Path,
) -> None:
    base = tmp_path / "tmp"
    root = base / TempFiles.ROOT_NAME
    dead = root / "run-deadbeef0000"
    (dead / "export-1").mkdir(parents=True)
    (dead / "export-1" / "video.mp4").write_bytes(b"half a video")
    (dead / ".lock").touch()  # its process died: nobody holds the lock
    (root / "stray.part").write_bytes(b"x")
    live = root / "run-alive0000000"
    (live / "export-2").mkdir(parents=True)
    (live / "export-2" / "video.mp4").write_bytes(b"in use")
    with (live / ".lock").open("wb") as lock:  # another bot process, still running
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        async with Harness(tmp_path, temp_dir=base) as h:
            await h.tg.send_text(ALICE, "/start")
            await h.tg.wait_for_message(ALICE)
            assert not dead.exists() and not (root / "stray.part").exists()
            assert (live / "export-2" / "video.mp4").read_bytes() == b"in use"
            (own,) = set(root.iterdir()) - {live}
            assert (own / ".lock").exists()
            # A restart leaves nothing of the stopped run behind either.
            await h.restart()
            (new,) = set(root.iterdir()) - {live}
            assert new != own and not own.exists()
    assert live.exists()


KILLED_RUN = """
import asyncio, os, signal, sys
from pathlib import Path
from bot.tempfiles import TempFiles

async def main() -> None:
    temp = await TempFiles.start(Path(sys.argv[1]))
    async with temp.directory("export-") as d:
        (d / "video.mp4").write_bytes(b"half")
        print(d, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup runs

asyncio.run(main())
"""


async def test_a_run_killed_mid_transfer_is_swept_at_the_next_start(tmp_path: Path) -> None:
    base = tmp_path / "tmp"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_RUN, str(base), stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    out, _ = await proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    left = Path(out.decode().strip())
    assert (left / "video.mp4").exists(), "the killed run left its file behind"
    async with Harness(tmp_path, temp_dir=base) as h:
        await h.tg.send_text(ALICE, "/start")
        await h.tg.wait_for_message(ALICE)
        assert not left.parent.exists()
        assert temp_files(base) == []


def test_runs_starting_at_the_same_moment_never_sweep_each_other(tmp_path: Path) -> None:
    """A start sweeps the directories of dead runs. One that starts at the same moment as
    another (two bots on one host, a restart overlapping a new replica) must not take the
    other's fresh directory for a dead run's: its finished video would have nowhere to go."""
    started: list[TempFiles] = []

    def start_many() -> None:
        for _ in range(25):
            temp = TempFiles(tmp_path)
            temp._start()
            started.append(temp)

    threads = [threading.Thread(target=start_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(started) == 200
    lost = [t.run_dir for t in started if not (t.run_dir / ".lock").exists()]
    for temp in started:
        asyncio.run(temp.close())
    assert lost == []
