"""The bot's temporary directory on a shared machine: its own, private, never a planted one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bot.streams import FileWriter
from bot.tempfiles import TempFiles, UnsafeTempDir


async def test_the_directory_is_private_even_if_it_existed_open(tmp_path: Path) -> None:
    (tmp_path / TempFiles.ROOT_NAME).mkdir(mode=0o777)
    os.chmod(tmp_path / TempFiles.ROOT_NAME, 0o777)
    temp = await TempFiles.start(tmp_path)
    try:
        assert stat.S_IMODE(temp.root.stat().st_mode) == 0o700
    finally:
        await temp.close()


async def test_a_symlinked_or_foreign_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / TempFiles.ROOT_NAME).symlink_to(target)
    with pytest.raises(UnsafeTempDir, match="symbolic link"):
        await TempFiles.start(tmp_path)
    assert list(target.iterdir()) == []
    (tmp_path / TempFiles.ROOT_NAME).unlink()
    (tmp_path / TempFiles.ROOT_NAME).mkdir()
    os.chown(tmp_path / TempFiles.ROOT_NAME, 54321, 54321)
    with pytest.raises(UnsafeTempDir, match="another user"):
        await TempFiles.start(tmp_path)


async def test_a_partial_file_never_follows_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    planted = tmp_path / "video.mp4"
    planted.symlink_to(victim)
    with pytest.raises(OSError):
        async with FileWriter(planted) as writer:
            await writer.write(b"overwritten")
    assert victim.read_text() == "keep me"
