"""The one directory the bot's temporary files live in: owned by this user, 0700, one run
directory per process, and what a killed run left behind swept at the next start."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import anyio

log = logging.getLogger(__name__)


class UnsafeTempDir(Exception):
    """The temporary directory is not the bot's own: a symlink, not a directory, or another
    user's. Another local user could read the exports or swap files under the bot."""


def secure_dir(path: Path) -> None:
    """Make ``path`` (0700) or accept it only if it is this user's real directory; tighten it
    to 0700. Raises ``UnsafeTempDir`` otherwise, ``OSError`` when it cannot be made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeTempDir(f"{path} is a symbolic link; remove it or set TEMP_DIR elsewhere")
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeTempDir(f"{path} is not a directory")
    if info.st_uid != os.geteuid():
        raise UnsafeTempDir(f"{path} belongs to another user (uid {info.st_uid}); remove it "
                            "or set TEMP_DIR to a directory of this user's")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)


class TempFiles:
    """The bot's temporary files: one directory per running process under
    ``<TEMP_DIR>/rtk-compressor-bot/``, locked for the life of the process.

    At start, every other run's directory whose lock nobody holds is an orphan of a killed
    run and is removed; a directory still locked belongs to another live process and is
    left alone. The lock is an ``flock``, which the kernel drops when a process dies, even
    by SIGKILL.
    """

    ROOT_NAME = "rtk-compressor-bot"

    def __init__(self, base: Path) -> None:
        self.root = base / self.ROOT_NAME
        self.run_dir = self.root / f"run-{uuid.uuid4().hex[:12]}"
        self._lock: IO[bytes] | None = None

    @classmethod
    async def start(cls, base: Path) -> TempFiles:
        temp = cls(base)
        await anyio.to_thread.run_sync(temp._start)
        return temp

    def _start(self) -> None:
        secure_dir(self.root)
        # Another process starting at the same moment may sweep this directory before its
        # lock is taken (it looks like a dead run's): then start over under a new name.
        for _ in range(20):
            self._lock = _claim(self.run_dir)
            if self._lock is not None:
                break
            self.run_dir = self.root / f"run-{uuid.uuid4().hex[:12]}"
        else:
            raise RuntimeError(f"could not make a temporary directory under {self.root}")
        swept = self._sweep()
        if swept:
            log.info("removed %d temporary file(s) left by an earlier run", swept)

    def _sweep(self) -> int:
        removed = 0
        for entry in self.root.iterdir():
            if entry == self.run_dir:
                continue
            if entry.is_dir() and not entry.is_symlink():
                with _lock_if_free(entry / ".lock") as free:
                    if not free:
                        continue  # a live process's
                    # Deleted while its lock is held, so no process can take it meanwhile.
                    removed += _count_files(entry)
                    shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
                removed += 1
        return removed

    @contextlib.asynccontextmanager
    async def directory(self, prefix: str) -> AsyncIterator[Path]:
        """A fresh directory for one transfer, removed (in a thread) however it ends."""
        path = self.run_dir / f"{prefix}{uuid.uuid4().hex[:12]}"
        await anyio.to_thread.run_sync(lambda: path.mkdir(mode=0o700))
        try:
            yield path
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(lambda: shutil.rmtree(path, ignore_errors=True))

    async def close(self) -> None:
        """Remove this run's directory and release its lock."""
        lock, self._lock = self._lock, None

        def close() -> None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            if lock is not None:
                lock.close()

        await anyio.to_thread.run_sync(close)


ORPHAN_MIN_AGE_SECONDS = 60.0
"""A run directory without a lock file is swept only once it is this old."""


def _count_files(directory: Path) -> int:
    try:
        return sum(1 for p in directory.rglob("*") if p.is_file() and p.name != ".lock")
    except OSError:  # removed meanwhile by another sweeper
        return 0


def _claim(run_dir: Path) -> IO[bytes] | None:
    """Make ``run_dir`` and hold its lock; ``None`` when a sweeper got to it first."""
    try:
        run_dir.mkdir(mode=0o700)
        lock = (run_dir / ".lock").open("wb")
    except FileNotFoundError:
        return None  # swept between the two steps
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Still the file at that path? A sweeper may have removed it before the lock.
        if os.fstat(lock.fileno()).st_ino == os.stat(run_dir / ".lock").st_ino:
            return lock
    except OSError:  # held by a sweeper deleting it, or gone
        pass
    lock.close()
    return None


@contextlib.contextmanager
def _lock_if_free(lock_path: Path) -> Iterator[bool]:
    """Hold another run's lock while the block runs, if nobody holds it (that run is dead);
    ``False`` when a live process does."""
    try:
        handle = lock_path.open("rb")
    except OSError:
        # No lock file: a run that died before taking it, or one that is just starting
        # (between making its directory and its lock). Only an old one is dead for sure.
        try:
            age = time.time() - lock_path.parent.stat().st_mtime
        except OSError:
            age = 0.0  # already gone
        yield age > ORPHAN_MIN_AGE_SECONDS
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
