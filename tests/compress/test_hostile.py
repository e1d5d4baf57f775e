"""Cancel, timeout and hostile input: nothing lingers, nothing outside the file is read."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import psutil
import pytest

from bot.compress import EncodeFailed, Engine, NotAVideo, Progress, Request
from tests.clips import hls_playlist
from tests.compress.conftest import Clips


def children() -> list[psutil.Process]:
    return psutil.Process().children(recursive=True)


async def test_cancel_kills_the_group_and_deletes_the_partial(
    engine: Engine, clips: Clips
) -> None:
    running: list[psutil.Process] = []
    names: list[str] = []
    partial: list[Path] = []
    started = asyncio.Event()

    async def on_progress(progress: Progress) -> None:
        if not started.is_set():
            running.extend(children())
            names.extend(p.name() for p in running)
            partial.extend(engine.work_dir.iterdir())
            started.set()

    task = asyncio.create_task(
        engine.compress(clips.landscape, Request(codec="h265"), on_progress=on_progress))
    await asyncio.wait_for(started.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert any("ffmpeg" in name for name in names), names
    assert partial  # ffmpeg had started writing
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in running)
    assert children() == []
    assert list(engine.work_dir.iterdir()) == []


async def test_ffmpeg_runs_niced(engine: Engine, clips: Clips) -> None:
    nice: list[int] = []

    async def on_progress(progress: Progress) -> None:
        for child in children():
            try:
                if "ffmpeg" in child.name():
                    nice.append(child.nice())
            except psutil.NoSuchProcess:
                pass

    await engine.compress(clips.landscape, Request(), on_progress=on_progress)
    assert nice and min(nice) >= os.nice(0) + engine.niceness


async def test_timeout_is_encode_failed_and_cleans_up(
    ffmpeg: object, clips: Clips, tmp_path: Path
) -> None:
    from bot.compress import Ffmpeg

    assert isinstance(ffmpeg, Ffmpeg)
    engine = Engine(ffmpeg, tmp_path, min_timeout=0.3, timeout_factor=0.0)
    request = Request(codec="h265") if ffmpeg.has_x265 else Request()
    with pytest.raises(EncodeFailed) as caught:
        await engine.compress(clips.landscape, request)
    assert "too long" in str(caught.value)
    assert os.listdir(tmp_path) == []
    assert children() == []


@pytest.mark.parametrize("name", ["playlist", "concat"])
async def test_lists_are_refused_and_never_followed(
    engine: Engine, clips: Clips, name: str, tmp_path: Path
) -> None:
    referenced = clips.referenced
    os.utime(referenced, (1000, referenced.stat().st_mtime))
    for src in (getattr(clips, name), shutil.copy(getattr(clips, name), tmp_path / "x.m3u8")):
        with pytest.raises(NotAVideo) as caught:
            await engine.compress(Path(src), Request())
        assert str(caught.value) == "This file is not a video I can read."
    assert referenced.stat().st_atime == 1000  # ffmpeg never opened it
    assert list(engine.work_dir.iterdir()) == []


async def test_the_atime_check_can_see_a_read(engine: Engine, clips: Clips) -> None:
    """Control for the test above: reading the file through the engine does move its atime."""
    copy = clips.directory / "control.mp4"
    shutil.copy(clips.referenced, copy)
    os.utime(copy, (1000, copy.stat().st_mtime))
    await engine.probe(copy)
    assert copy.stat().st_atime != 1000


async def test_a_playlist_never_fetches_a_url(engine: Engine, tmp_path: Path) -> None:
    connections: list[object] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(await reader.read(100))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    playlist = tmp_path / "video.mp4"
    playlist.write_text(hls_playlist(f"http://127.0.0.1:{port}/a.ts"))
    listing = tmp_path / "list.mp4"
    listing.write_text(f"ffconcat version 1.0\nfile 'http://127.0.0.1:{port}/b.mp4'\n")
    async with server:
        for src in (playlist, listing):
            with pytest.raises(NotAVideo):
                await engine.compress(src, Request())
        await asyncio.sleep(0.2)
    assert connections == []


@pytest.mark.parametrize("name", ["concat:a|b.mp4", "-i http:x.mp4", "http:evil.mp4", "$(id).mp4"])
async def test_a_hostile_file_name_is_just_a_file(
    engine: Engine, clips: Clips, tmp_path: Path, name: str
) -> None:
    src = tmp_path / name
    shutil.copy(clips.silent, src)
    result = await engine.compress(src, Request(max_short_side=240))
    assert result.path.is_file()
    assert name not in result.path.name


async def test_an_ffmpeg_that_vanished_is_encode_failed(
    ffmpeg: object, clips: Clips, tmp_path: Path
) -> None:
    from dataclasses import replace

    from bot.compress import Ffmpeg

    assert isinstance(ffmpeg, Ffmpeg)
    engine = Engine(replace(ffmpeg, path=str(tmp_path / "gone")), tmp_path / "work")
    with pytest.raises(EncodeFailed):
        await engine.compress(clips.silent, Request())
