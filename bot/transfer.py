"""Bytes on the move: sources that stream without holding a file in memory, and the one
directory the bot's temporary files live in.

A source is read in chunks and can be opened again (a retried upload re-reads it). Disk
reads and writes run in worker threads (anyio), never on the event loop, so a 2 GB file
never stalls the other chats.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import anyio
import httpx

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
"""Read size: large enough that a thread hop per chunk costs nothing next to the copy."""


class SourceError(Exception):
    """The bytes could not be read (the file went away, the file server failed)."""


@dataclass(frozen=True, slots=True)
class Opened:
    """An open source: its size when known, and its chunks (read once)."""

    size: int | None
    chunks: AsyncIterator[bytes]


class ByteSource(Protocol):
    """Something to stream, opened afresh for every attempt."""

    def open(self) -> contextlib.AbstractAsyncContextManager[Opened]: ...


@dataclass(frozen=True, slots=True)
class PathSource:
    """A file on this machine's disk, read in chunks in a worker thread."""

    path: Path

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[Opened]:
        try:
            handle = await anyio.open_file(self.path, "rb")
        except OSError as exc:
            raise SourceError(f"cannot read {self.path.name}: {exc.strerror}") from exc
        try:
            size = os.fstat(handle.wrapped.fileno()).st_size
            yield Opened(size, _read_chunks(handle))
        finally:
            await handle.aclose()


async def _read_chunks(handle: anyio.AsyncFile[bytes]) -> AsyncIterator[bytes]:
    while True:
        try:
            chunk = await handle.read(CHUNK)
        except OSError as exc:
            raise SourceError(f"read failed: {exc.strerror}") from exc
        if not chunk:
            return
        yield chunk


@dataclass(frozen=True, slots=True)
class UrlSource:
    """A file served over HTTP, streamed as it arrives (never whole in memory).

    A failure before any byte arrives (a 5xx, a 429, an HTML error page from a proxy, a
    refused connection) is tried again after each pause in ``retries``. The URL may hold a
    secret (a Bot API file URL holds the bot token): it is never put in an error or a log.
    """

    http: httpx.AsyncClient
    url: str
    size: int | None = None
    retries: tuple[float, ...] = ()

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[Opened]:
        for pause in (*self.retries, None):
            yielded = False  # past this, errors are the caller's: never retried or renamed
            try:
                async with self.http.stream("GET", self.url) as response:
                    status = response.status_code
                    if (status >= 500 or status == 429) and pause is not None:
                        log.info("file server answered HTTP %s; trying again", status)
                    elif status >= 400:
                        raise SourceError(f"file server answered HTTP {status}")
                    else:
                        declared = response.headers.get("content-length")
                        size = int(declared) if declared and declared.isdigit() else self.size
                        yielded = True
                        yield Opened(size, _http_chunks(response))
                        return
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if yielded:
                    raise
                if pause is None:
                    raise SourceError(f"file server unreachable: {type(exc).__name__}") from None
                log.info("file server unreachable (%s); trying again", type(exc).__name__)
            except httpx.HTTPError as exc:
                if yielded:
                    raise
                raise SourceError(f"file download failed: {type(exc).__name__}") from None
            await asyncio.sleep(pause)


async def _http_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_bytes(CHUNK):
            yield chunk
    except httpx.HTTPError as exc:
        raise SourceError(f"file download broke: {type(exc).__name__}") from None


class FileWriter:
    """A stream written to a file without blocking the event loop, at the speed of a plain
    write: chunks are gathered into batches, each written with one ``writev`` in a worker
    thread while the next batch arrives. At most two batches are held (8 MB).

    (A thread hop per network chunk costs more than the write itself on a busy machine.)
    """

    BATCH = 4 * CHUNK
    MAX_PIECES = 512  # writev takes at most IOV_MAX (1024 on Linux) buffers

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._batch: list[bytes] = []
        self._size = 0
        self._writing: asyncio.Future[None] | None = None

    async def __aenter__(self) -> FileWriter:
        # A fresh file, never through a planted symlink or onto an existing file.
        flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                 | getattr(os, "O_CLOEXEC", 0))
        self._fd = await asyncio.to_thread(os.open, self.path, flags, 0o600)
        return self

    async def write(self, chunk: bytes) -> None:
        self._batch.append(chunk)
        self._size += len(chunk)
        if self._size >= self.BATCH or len(self._batch) >= self.MAX_PIECES:
            await self._flush()

    async def _flush(self) -> None:
        if self._writing is not None:
            writing, self._writing = self._writing, None
            await writing
        if self._batch:
            assert self._fd is not None
            batch, self._batch, self._size = self._batch, [], 0
            self._writing = asyncio.ensure_future(asyncio.to_thread(_write_all, self._fd, batch))

    async def __aexit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                await self._flush()
            if self._writing is not None:
                writing, self._writing = self._writing, None
                if exc[0] is None:
                    await writing
                else:  # failing anyway: let the write in flight end before closing its file
                    with contextlib.suppress(Exception):
                        await asyncio.shield(writing)
        finally:
            fd, self._fd = self._fd, None
            if fd is not None:
                await asyncio.shield(asyncio.to_thread(os.close, fd))


def _write_all(fd: int, pieces: list[bytes]) -> None:
    written = os.writev(fd, pieces)
    total = sum(len(p) for p in pieces)
    if written < total:  # a short write (rare for regular files): finish the rest plainly
        rest = memoryview(b"".join(pieces))[written:]
        while rest:
            rest = rest[os.write(fd, rest):]


# -- temporary files ---------------------------------------------------------------------------


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
