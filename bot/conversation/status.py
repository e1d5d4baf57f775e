"""One live status per job: a message from the job's first second, edited through each stage
(uploading, the agent working, rendering, fetching and sending the video), with ❌ Cancel.

:class:`LiveStatus` is the one throttled implementation (local compression uses it too): at
most one edit every ``TRANSFER_PROGRESS_SECONDS`` (twice that in groups, whose 20 messages a
minute are shared, and that times the number of statuses open in the chat: several forum
topics at work share one group's budget), the latest text wins, so no stage ever waits for an
edit and a slow or rate-limited chat gets fewer edits rather than a backlog or a FloodWait.

A backend job's status appears once the job has run ``typing_delay`` (half a second: an
answer that comes sooner needs none), with its stage by then. It is sent as a recorded
progress step (``outbox.send_progress``), so a job resumed after a restart finds the same
message and edits it on, then takes it down like any other; nothing leaves a "working"
message behind. A ❌ or ``/cancel`` turns it into one
line saying the job stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import ClassVar

from bot.conversation import callbacks
from bot.conversation import local_messages as lm
from bot.conversation.chat import Button, Chat, Keyboard, is_group
from bot.conversation.context import Ctx
from bot.conversation.outbox import progress_before, send_progress
from bot.store import Job

log = logging.getLogger(__name__)

BACKEND_KINDS = frozenset({"turn", "export", "media", "link"})
"""Job kinds that get a status on the backend path (``compress`` has its own, in local.py)."""
STEP = "status"
"""The status's step in the job's send records (outbox): found again after a restart."""


class LiveStatus:
    """One status message, edited as the work moves on: at most once every ``every`` seconds
    and never a backlog (the latest text wins), so a slow or rate-limited edit holds nothing
    up and a group's 20 messages a minute are not spent on percentages."""

    _open: ClassVar[Counter[int]] = Counter()
    """Live statuses per chat: a group's jobs (one per forum topic) share its budget, so each
    waits ``every`` times their number between edits."""

    def __init__(self, chat: Chat, message_id: int | None, every: float,
                 buttons: Keyboard | None = None, *, shown: str | None = None) -> None:
        """``shown``: the text the message was sent with (no edit is due for it)."""
        self.chat = chat
        self.message_id = message_id
        self.every = every
        self.buttons = buttons
        self._latest: str | None = shown
        self._shown: str | None = shown
        self._last = -math.inf
        self._task: asyncio.Task[None] | None = None
        self._open[chat.chat_id] += 1
        self._counted = True

    @property
    def gap(self) -> float:
        """Seconds between two edits now."""
        return self.every * max(1, self._open[self.chat.chat_id])

    def show(self, text: str) -> None:
        self._latest = text
        if self.message_id is not None and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="live-status")

    async def _run(self) -> None:
        assert self.message_id is not None
        while self._latest is not None and self._latest != self._shown:
            wait = self._last + self.gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            text = self._latest
            self._last = time.monotonic()
            try:
                await self.chat.edit(self.message_id, text, buttons=self.buttons)
            except asyncio.CancelledError:
                raise
            except Exception:  # the next edit may go through; the work goes on regardless
                log.info("chat %s: status not edited", self.chat.chat_id, exc_info=True)
            self._shown = text

    async def stop_editing(self) -> None:
        if self._counted:
            self._counted = False
            self._open[self.chat.chat_id] -= 1
            if self._open[self.chat.chat_id] <= 0:
                del self._open[self.chat.chat_id]
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def close(self, final: str | None = None) -> None:
        """Stop editing; then take the status down (the result or the reason replaces it),
        or leave ``final`` in it, without buttons."""
        await self.stop_editing()
        if self.message_id is not None:
            with contextlib.suppress(Exception):
                if final is None:
                    await self.chat.delete(self.message_id)
                else:
                    await self.chat.edit(self.message_id, final)

    @contextlib.asynccontextmanager
    async def ticking(self, first: str, text: Callable[[float], str]) -> AsyncIterator[None]:
        """Show ``first``, then, while the block runs, ``text(elapsed seconds)`` once every
        ``every``."""
        started = time.monotonic()
        self.show(first)

        async def tick() -> None:
            while True:
                await asyncio.sleep(self.every)
                elapsed = time.monotonic() - started
                if elapsed >= 1:  # no "0 sec"
                    self.show(text(elapsed))

        task = asyncio.create_task(tick(), name="live-status-tick")
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class JobStatus(LiveStatus):
    """A job's status, sent only once the job has run ``delay`` seconds (an answer that comes
    sooner needs none: two Bot API calls saved, nothing flickers), with whatever its stage is
    by then."""

    def __init__(self, chat: Chat, every: float, buttons: Keyboard | None) -> None:
        super().__init__(chat, None, every, buttons)
        self._appearing: asyncio.Task[None] | None = None
        self._sending = False

    def appear(self, delay: float, send: Callable[[str], Awaitable[int | None]],
               first: str) -> None:
        self._latest = first

        async def run() -> None:
            await asyncio.sleep(delay)
            self._sending = True  # from here on the message may exist: never cancelled
            text = self._latest or first
            self.message_id = await send(text)
            self._shown = text
            self.show(self._latest or text)

        self._appearing = asyncio.create_task(run(), name="live-status-send")

    async def _settled(self) -> None:
        """The status was sent, or will never be: the one before taking it down."""
        task = self._appearing
        if task is None:
            return
        if not self._sending:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def stop_editing(self) -> None:
        await self._settled()
        await super().stop_editing()


def stop_buttons(ctx: Ctx) -> Keyboard | None:
    """A live status's ❌ Cancel (who asked may press it)."""
    job = ctx.job
    if job is None:
        return None
    uid = job.payload.get("user_id")
    return [[Button(lm.cancel_button(ctx.t),
                    data=callbacks.stop(job.id, uid if isinstance(uid, int) else None))]]


def interval(ctx: Ctx, every: float) -> float:
    """``every`` in a private chat, twice that in a group (its messages a minute are shared)."""
    return every * (2 if is_group(ctx.chat.chat_id) else 1)


_current: ContextVar[tuple[int, LiveStatus] | None] = ContextVar("live_status", default=None)


def current(ctx: Ctx) -> LiveStatus | None:
    """The running job's live status, for its stages to show themselves in; ``None`` outside
    a job that has one (they then keep their own messages)."""
    held = _current.get()
    if held is None or ctx.job is None or held[0] != ctx.job.id:
        return None
    return held[1]


def show(ctx: Ctx, text: str) -> bool:
    """Show ``text`` in the job's live status; ``False`` when there is none."""
    live = current(ctx)
    if live is None:
        return False
    live.show(text)
    return True


@contextlib.asynccontextmanager
async def job_status(ctx: Ctx, job: Job) -> AsyncIterator[None]:
    """The live status of a backend job, from its start to its end: taken down when the job
    ends (its answer or video is there), "stopped" after a ❌ or /cancel, left for the next
    start to reuse when the bot shuts down mid-job."""
    if job.kind not in BACKEND_KINDS or not ctx.svc.backend_enabled:
        yield
        return
    t, chat = ctx.t, ctx.chat
    buttons = stop_buttons(ctx)
    status = JobStatus(chat, interval(ctx, ctx.svc.timing.transfer_progress), buttons)
    before = await progress_before(chat, STEP)  # a resumed job's own status
    if before is not None:
        status.message_id = before
        status.show(lm.starting(t))  # it says so again, not the stage it stopped at
    else:
        status.appear(ctx.svc.timing.typing_delay,
                      lambda text: send_progress(chat, STEP, text, buttons=buttons),
                      lm.starting(t))
    token = _current.set((job.id, status))
    try:
        yield
    except asyncio.CancelledError:
        if await ctx.svc.store.cancelled_among([job.id]):
            await status.close(lm.stopped(t))
        else:
            await status.stop_editing()  # a shutdown: the resumed job edits it on
        raise
    except BaseException:
        await status.close()
        raise
    else:
        await status.close()
    finally:
        _current.reset(token)
