"""Bytes on the move: sources that stream without holding a file in memory, and a writer
that puts a stream on disk without blocking.

A source is read in chunks and can be opened again (a retried upload re-reads it). Disk
reads and writes run in worker threads (anyio), never on the event loop, so a 2 GB file
never stalls the other chats. Nothing here knows of Telegram or the backend: both use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import anyio

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
