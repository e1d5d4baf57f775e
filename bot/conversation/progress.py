"""Keeping a person informed while the backend works, without flooding the chat.

"typing" is refreshed while work runs, from ``typing_delay`` on (work done sooner needs no
indicator, and skips a Bot API call), all chats together within ``TypingBudget``; after
``still_working`` seconds ONE status message appears and is edited in place on each later
interval, then removed when the answer arrives.
Intervals count from the start, so a slow Bot API call does not push the later ones back.
A long transfer gets the same treatment with its percentage (``transfer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from bot.conversation.context import Ctx
from bot.conversation.status import current

log = logging.getLogger(__name__)


class _Status:
    """Background tasks that keep one status message up to date; ``stop`` ends them and
    removes the message, however the work ended."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self._tasks: list[asyncio.Task[None]] = []
        self.message_id: int | None = None

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # wait() raises a cancel aimed at the caller (suppressing CancelledError around
            # ``await task`` swallowed it too, and a cancelled job ran on) and never the
            # tasks' own ends, which are collected here.
            await asyncio.wait(self._tasks)
            for task in self._tasks:
                if not task.cancelled() and task.exception() is not None:
                    log.warning("status task failed", exc_info=task.exception())
        self._tasks = []
        if self.message_id is not None:
            with contextlib.suppress(Exception):
                await self.ctx.chat.delete(self.message_id)
            self.message_id = None


class Progress(_Status):
    def __init__(
        self, ctx: Ctx, text: Callable[[float | None], str] | None, action: str = "typing"
    ) -> None:
        super().__init__(ctx)
        self._text = text
        self._action = action
        self.started = time.monotonic()

    async def _typing(self) -> None:
        budget = self.ctx.svc.typing
        budget.active += 1  # open from its start: turns begun together share the budget
        try:
            await asyncio.sleep(self.ctx.svc.timing.typing_delay)
            while True:
                with contextlib.suppress(Exception):
                    await self.ctx.chat.action(self._action)
                await asyncio.sleep(budget.interval(self.ctx.svc.timing.typing_refresh))
        finally:
            budget.active -= 1

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


class Transfer(_Status):
    """One status message for a transfer that takes a while: it appears only after
    ``transfer_progress`` seconds, is edited at most that often (only when its text changed),
    and is removed when the transfer ends, however it ends."""

    def __init__(self, ctx: Ctx, text: Callable[[int, int | None], str],
                 total: int | None = None) -> None:
        super().__init__(ctx)
        self._text = text
        self.done = 0
        self.total = total

    def advance(self, done: int, total: int | None = None) -> None:
        """Bytes moved so far (called for every chunk: only stores the numbers)."""
        self.done = done
        if total is not None:
            self.total = total

    async def _run(self) -> None:
        interval = self.ctx.svc.timing.transfer_progress
        await asyncio.sleep(interval)
        shown = self._text(self.done, self.total)
        try:
            self.message_id = await self.ctx.chat.send(shown)
        except Exception:
            log.warning("could not send the transfer status", exc_info=True)
            return
        while True:
            await asyncio.sleep(interval)
            text = self._text(self.done, self.total)
            if text != shown:
                with contextlib.suppress(Exception):
                    await self.ctx.chat.edit(self.message_id, text)
                shown = text


class _Shown(Transfer):
    """A transfer shown in the job's live status: each chunk hands it the text (the status
    throttles its own edits)."""

    def __init__(self, ctx: Ctx, text: Callable[[int, int | None], str], total: int | None,
                 show: Callable[[str], None]) -> None:
        super().__init__(ctx, text, total)
        self._show = show

    def advance(self, done: int, total: int | None = None) -> None:
        super().advance(done, total)
        self._show(self._text(self.done, self.total))


@contextlib.asynccontextmanager
async def transfer(
    ctx: Ctx, text: Callable[[int, int | None], str], total: int | None = None
) -> AsyncIterator[Transfer]:
    """Percent-and-size status for a long transfer; feed it with ``advance``. In a job with
    a live status (bot/conversation/status.py) that status shows it, from the first byte."""
    live = current(ctx)
    if live is not None:
        shown = _Shown(ctx, text, total, live.show)
        live.show(text(0, total))
        yield shown
        return
    status = Transfer(ctx, text, total)
    status._tasks = [asyncio.create_task(status._run())]
    try:
        yield status
    finally:
        await status.stop()
