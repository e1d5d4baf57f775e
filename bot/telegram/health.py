"""What ``/healthz`` and ``/metrics`` answer from: state kept in memory, not a query per
request.

Both are unauthenticated, so a flood of requests must not become a flood of table scans on
the store's one connection, and a busy or locked store must not make them hang. The taking in
of updates reports here when the store fails and when it works again (an update is stored
only then); the count of unfinished jobs is read at most every ``refresh`` seconds, one read
at a time, and waited for at most ``timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from bot.store import ChatStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    store_ok: bool
    pending: int | None
    """Jobs waiting or running, as last read (``None`` before the first read)."""


class Health:
    def __init__(self, *, refresh: float = 10.0, timeout: float = 1.0) -> None:
        self.store: ChatStore | None = None
        self.refresh = refresh
        self.timeout = timeout
        self.intake_failing: str | None = None
        """Why updates cannot be stored now (the exception's class), else ``None``."""
        self._pending: int | None = None
        self._read_ok = False
        self._read_at = -float("inf")
        self._reading: asyncio.Task[None] | None = None

    def intake_failed(self, exc: BaseException) -> bool:
        """The store failed to take an update in; ``True`` the first time (log it once)."""
        first = self.intake_failing is None
        self.intake_failing = type(exc).__name__
        return first

    def intake_ok(self) -> bool:
        """An update was stored; ``True`` if that ends a failure (log it once)."""
        ended = self.intake_failing is not None
        self.intake_failing = None
        return ended

    async def snapshot(self, *, wait: bool = True) -> Snapshot:
        """The store's state: read again when stale or when it last failed (one read at a
        time), waited for at most ``timeout``; a read still running then counts as down."""
        fresh = self._read_ok and time.monotonic() - self._read_at < self.refresh
        if self.store is not None and not fresh and (
            self._reading is None or self._reading.done()
        ):
            self._reading = asyncio.create_task(self._read(self.store), name="health-read")
        reading = self._reading
        if wait and reading is not None and not reading.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reading), self.timeout)
        in_time = reading is None or reading.done()
        ok = self._read_ok and in_time and self.intake_failing is None
        return Snapshot(store_ok=ok, pending=self._pending)

    async def _read(self, store: ChatStore) -> None:
        try:
            self._pending = await store.count_unfinished()
            self._read_ok = True
        except Exception as exc:
            self._read_ok = False
            log.warning("health: store check failed: %s", type(exc).__name__)
        self._read_at = time.monotonic()

    async def close(self) -> None:
        reading, self._reading = self._reading, None
        if reading is not None and not reading.done():
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reading
