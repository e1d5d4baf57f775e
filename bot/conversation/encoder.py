"""Local compression as the conversation sees it: the ffmpeg found, the mode, and the line.

``LOCAL_ENCODE_CONCURRENCY`` encodes run at once in this process; the others wait first come,
first served, each told its place. The line itself lives in memory because the work does
not: every waiting encode is a job in the store (its chat's queue), so after a restart the
jobs come back and simply take their places again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from bot import metrics
from bot.compress import Ffmpeg

log = logging.getLogger(__name__)

Mode = Literal["fallback", "always"]


class EncodeSlots:
    """At most ``size`` encodes at once, the rest in arrival order, each knowing its place."""

    def __init__(self, size: int = 1) -> None:
        self.size = size
        self.running = 0
        self._waiting: list[asyncio.Future[None]] = []
        self._moved: asyncio.Future[None] | None = None
        metrics.LOCAL_WAITING.set_function(lambda: len(self._waiting))

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _tell_moved(self) -> None:
        if self._moved is not None and not self._moved.done():
            self._moved.set_result(None)
        self._moved = None

    @contextlib.asynccontextmanager
    async def slot(
        self, on_place: Callable[[int], Awaitable[None]] | None = None
    ) -> AsyncIterator[None]:
        """Hold an encode slot for the block; ``on_place(n)`` while n-th in line (1 = next)."""
        await self._acquire(on_place)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, on_place: Callable[[int], Awaitable[None]] | None) -> None:
        if self.running < self.size and not self._waiting:
            self.running += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        told = 0
        try:
            while not turn.done():
                place = self._waiting.index(turn) + 1
                if on_place is not None and place != told:
                    told = place
                    with contextlib.suppress(Exception):  # a lost edit is no reason to stop
                        await on_place(place)
                    continue  # the line may have moved during the edit
                if self._moved is None:
                    self._moved = asyncio.get_running_loop().create_future()
                await asyncio.wait({turn, self._moved}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            if turn.done():
                self._release()  # handed a slot just as this waiter was cancelled: pass it on
            else:
                self._waiting.remove(turn)
                self._tell_moved()
            raise

    def _release(self) -> None:
        if self._waiting:
            # The slot passes straight to the next in line; ``running`` stays the same.
            self._waiting.pop(0).set_result(None)
            self._tell_moved()
        else:
            self.running -= 1


@dataclass(frozen=True, slots=True)
class Local:
    """Compression on this machine: what the conversation needs to decide and to run it."""

    ffmpeg: Ffmpeg
    mode: Mode = "fallback"
    slots: EncodeSlots = field(default_factory=EncodeSlots)
    niceness: int = 10
    progress_every: float = 3.0
    """Seconds between edits of a live status (Telegram allows about one a second per chat,
    20 a minute in a group)."""

    @property
    def always(self) -> bool:
        return self.mode == "always"
