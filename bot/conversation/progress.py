"""Keeping a person informed while the backend works, without flooding the chat.

"typing" is refreshed while work runs, from ``typing_delay`` on (work done sooner needs no
indicator, and skips a Bot API call); after ``still_working`` seconds ONE status message
appears and is edited in place on each later interval, then removed when the answer arrives.
Intervals count from the start, so a slow Bot API call does not push the later ones back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from bot.conversation.context import Ctx

log = logging.getLogger(__name__)


class Progress:
    def __init__(
        self, ctx: Ctx, text: Callable[[float | None], str] | None, action: str = "typing"
    ) -> None:
        self.ctx = ctx
        self._text = text
        self._action = action
        self._tasks: list[asyncio.Task[None]] = []
        self.message_id: int | None = None
        self.started = time.monotonic()

    async def _typing(self) -> None:
        await asyncio.sleep(self.ctx.svc.timing.typing_delay)
        while True:
            with contextlib.suppress(Exception):
                await self.ctx.chat.action(self._action)
            await asyncio.sleep(self.ctx.svc.timing.typing_refresh)

    async def _still_working(self) -> None:
        if self._text is None:
            return
        interval = self.ctx.svc.timing.still_working
        await asyncio.sleep(interval)
        try:
            self.message_id = await self.ctx.chat.send(self._text(None))
        except Exception:
            log.warning("could not send the still-working message", exc_info=True)
            return
        due = self.started + interval
        while True:
            due += interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            with contextlib.suppress(Exception):
                await self.ctx.chat.edit(
                    self.message_id, self._text(time.monotonic() - self.started)
                )

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._typing()),
            asyncio.create_task(self._still_working()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.message_id is not None:
            with contextlib.suppress(Exception):
                await self.ctx.chat.delete(self.message_id)
            self.message_id = None


@contextlib.asynccontextmanager
async def progress(
    ctx: Ctx, text: Callable[[float | None], str] | None, action: str = "typing"
) -> AsyncIterator[Progress]:
    """Chat action kept alive, plus the still-working message when ``text`` is given."""
    p = Progress(ctx, text, action)
    p.start()
    try:
        yield p
    finally:
        await p.stop()
