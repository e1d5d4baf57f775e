"""Each chat served in order, different chats at once, and nothing lost on a restart.

Incoming work is written to the store first (a repeated update is recognised by its key),
then a per-chat worker drains that chat's queue one job at a time. After a restart, the
workers of chats with unfinished jobs are started again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from bot import logs
from bot.conversation.chat import Chat, ChatUnavailable
from bot.conversation.context import Ctx, Services
from bot.conversation.line import Line
from bot.conversation.outbox import OutboxChat
from bot.conversation.status import job_status
from bot.i18n import Translator, choose_locale, translator
from bot.store import Job
from bot.store.claims import Fence, LeaseLost, holding

log = logging.getLogger(__name__)

Key = tuple[int, int]
Handler = Callable[[Ctx, Job], Awaitable[None]]
ChatFactory = Callable[[int, int, int | None], Chat]


def starts_turn(kind: str, payload: dict[str, Any]) -> bool:
    """Whether a job sends the agent an instruction (an album's items share one caption)."""
    return kind in {"turn", "link"} or (kind == "media" and bool(payload.get("caption")))


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: Literal["rate", "pending"]
    limit: int
    retry_after: int  # seconds
    tell: bool = True
    """Whether to tell the person: once per run of refusals, not once per refused message
    (a flood would otherwise get a flood of notices back)."""


class TakenOver(Exception):
    """Another replica took this job over (this one's lease lapsed) and got to send its
    instruction first: this worker stops without touching the job."""


class ChatQueue:
    def __init__(
        self,
        svc: Services,
        chat_for: ChatFactory,
        handlers: dict[str, Handler],
        on_error: Callable[[Ctx, Job, Exception], Awaitable[None]] | None = None,
        *,
        on_interrupted: Callable[[Ctx, Job], Awaitable[bool]] | None = None,
        lease_seconds: float = 30.0,
        turn_rate_limit: int = 0,
        max_pending: int = 0,
    ) -> None:
        self.svc = svc
        # Protections (0 = none): a chat's agent turns per minute, and its unfinished jobs.
        self.turn_rate_limit = turn_rate_limit
        self.max_pending = max_pending
        self._turns: dict[Key, collections.deque[float]] = {}
        self.turn_window = 60.0
        """Seconds ``turn_rate_limit`` counts over; chats idle longer leave the table."""
        self._swept = time.monotonic()
        self._told_until: dict[Key, float] = {}
        """Per chat: until when (monotonic) the last refusal notice covers further refusals."""
        # Replicas (a shared store): a chat is worked only by the replica holding its lease,
        # renewed every third of ``lease_seconds``; a dead replica's chats are taken over
        # once its leases expire. procrastinate (a PostgreSQL task queue with per-key locks)
        # was considered: its jobs are functions run by its own worker, so the per-chat
        # worker here, the job progress columns and the restart rules (a sent turn is never
        # re-sent) would have to be rebuilt around it, and it knows no SQLite, the default.
        # A lease row per chat keeps one queue for both engines.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_seconds = lease_seconds
        self._running: dict[Key, int] = {}  # the job each local worker runs now
        self._held: dict[Key, float] = {}
        """Per chat this replica claimed: when (monotonic, taken before the request went
        out) its lease was last granted or renewed; it may have expired a lease later."""
        self._replica: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.chat_for = chat_for
        self.handlers = handlers
        self.on_error = on_error
        self.on_interrupted = on_interrupted
        """What a job that was running when the bot stopped does first; ``True`` when that
        dealt with it (the flows decide: a sent turn is never sent again)."""
        self._workers: dict[Key, asyncio.Task[None]] = {}
        self._kicked: set[Key] = set()
        self._leaving: dict[Key, asyncio.Event] = {}  # chats whose lease a worker releases
        self._moved: dict[int, int] = {}  # chat ids that changed (see ``moved``)
        self._closing = False
        self.line = Line(svc.store, lambda chat_id, thread_id: chat_for(chat_id, thread_id, None),
                         self.translator_for)
        """The notice that tells each waiting request its place (``conversation/line.py``)."""

    async def translator_for(self, chat_id: int, user_language: str | None) -> Translator:
        record = await self.svc.store.get_chat(chat_id)
        return translator(choose_locale(record.language if record else None, user_language))

    @property
    def active(self) -> int:
        """How many chats have work running now."""
        return len(self._workers)

    def busy(self, chat_id: int, thread_id: int) -> bool:
        return (chat_id, thread_id) in self._workers

    async def refusal(
        self, chat_id: int, thread_id: int, kind: str, payload: dict[str, Any]
    ) -> Refusal | None:
        """Why this chat may not queue more now (and for how long), or ``None``. Nothing
        already queued is touched; a chat over its limits only slows itself down. Only the
        first refusal of a run is to be told (:attr:`Refusal.tell`); the run ends when its
        notice's retry time has passed or a message is accepted again."""
        key = (chat_id, thread_id)
        refused = await self._refusal(key, kind, payload)
        if refused is None:
            self._told_until.pop(key, None)
            return None
        now = time.monotonic()
        if now < self._told_until.get(key, 0.0):
            return replace(refused, tell=False)
        self._told_until[key] = now + refused.retry_after
        return refused

    async def _refusal(self, key: Key, kind: str, payload: dict[str, Any]) -> Refusal | None:
        if self.max_pending and await self.svc.store.count_waiting(*key) >= self.max_pending:
            return Refusal("pending", self.max_pending, 60)
        if not self.turn_rate_limit or not starts_turn(kind, payload):
            return None
        now = time.monotonic()
        window = self.turn_window
        self._sweep(now)
        times = self._turns.setdefault(key, collections.deque())
        while times and now - times[0] >= window:
            times.popleft()
        if len(times) >= self.turn_rate_limit:
            return Refusal("rate", self.turn_rate_limit,
                           max(1, math.ceil(window - (now - times[0]))))
        times.append(now)
        return None

    def _sweep(self, now: float) -> None:
        """Once a window: forget chats whose last turn (and refusal notice) lies behind it,
        so a long-running process does not keep a row for every chat it ever served."""
        if now - self._swept < self.turn_window:
            return
        self._swept = now
        for key in [k for k, t in self._turns.items() if not t or now - t[-1] >= self.turn_window]:
            del self._turns[key]
        for key in [k for k, until in self._told_until.items() if until <= now]:
            del self._told_until[key]

    @property
    def rate_table_size(self) -> int:
        """Chats the turn limiter remembers (bounded by those active in the last window)."""
        return len(self._turns) + len(self._told_until)

    async def submit(
        self,
        chat_id: int,
        thread_id: int,
        kind: str,
        payload: dict[str, Any],
        *,
        dedupe_key: str | None = None,
    ) -> bool:
        """Queue a job; ``False`` when this update was seen before and is ignored."""
        if kind not in self.handlers:
            raise ValueError(f"no handler for {kind!r}")
        job_id = await self.svc.store.add_job(chat_id, thread_id, kind, payload, dedupe_key)
        if job_id is None:
            log.info("chat %s: repeated update %s ignored", chat_id, dedupe_key)
            return False
        self._kick((chat_id, thread_id))
        return True

    def moved(self, old_id: int, new_id: int) -> None:
        """The chat's id changed (a group became a supergroup) and its stored work moved
        with it: a worker still running under the old id finishes its job, and the new id's
        worker starts only after it, so the chat still runs one job at a time."""
        self._moved[old_id] = new_id
        for thread_id in {t for c, t in self._workers if c == old_id}:
            self._kicked.add((new_id, thread_id))  # started when the old worker ends

    def _kick(self, key: Key) -> None:
        if self._closing:
            return
        if any(self._moved.get(c) == key[0] and t == key[1] for c, t in self._workers):
            self._kicked.add(key)  # its old id's worker starts it when it ends
            return
        if key in self._workers:
            # The worker may be between an empty read and its exit: make it look again.
            self._kicked.add(key)
            return
        task = asyncio.create_task(self._work(key), name=f"chat-{key[0]}-{key[1]}")
        self._workers[key] = task

    async def _work(self, key: Key) -> None:
        chat_id, thread_id = key
        store = self.svc.store
        fence: Fence | None = None
        try:
            leaving = self._leaving.get(key)
            if leaving is not None:
                # This replica's previous worker of the chat is still deleting its lease
                # row; claiming now would be undone by that delete.
                await leaving.wait()
            asked = time.monotonic()
            fence = await store.claim(chat_id, thread_id, self.owner, self.lease_seconds)
            if fence is None:
                return  # another replica works this chat; its worker (or a sweep) runs it
            self._held[key] = asked
            with holding(fence):
                await self._drain(key, fence)
        finally:
            if self._workers.get(key) is asyncio.current_task():
                del self._workers[key]
            self._kicked.discard(key)
            if fence is not None:
                self._held.pop(key, None)
                await self._release(key, fence)
            new_id = self._moved.get(chat_id)
            if new_id is not None and (new_id, thread_id) in self._kicked:
                self._kicked.discard((new_id, thread_id))
                self._kick((new_id, thread_id))

    async def _drain(self, key: Key, fence: Fence) -> None:
        """Run the chat's jobs until none is left, while this worker holds the chat."""
        chat_id, thread_id = key
        failures = 0
        while not self._closing:
            # A submit after this line either is visible to the read below (stored first)
            # or sets the flag again, which is checked after an empty read with no await
            # before the worker deregisters: no job can be stranded.
            self._kicked.discard(key)
            try:
                job = await self.svc.store.next_job(chat_id, thread_id)
                if job is None:
                    if key in self._kicked:
                        continue
                    return
                self._running[key] = job.id
                try:
                    with contextlib.suppress(Exception):  # a notice never holds it up
                        await self.line.moved(chat_id, thread_id, job)
                    await self._run(job)
                finally:
                    self._running.pop(key, None)
                failures = 0
            except LeaseLost:
                # Another replica holds the chat now (this one's lease lapsed): it finishes
                # the job; this worker did nothing irreversible since and stops.
                log.warning("chat %s: lease lost (claim %s); this replica stops working it",
                            chat_id, fence.epoch)
                return
            except Exception:
                # The store failed (locked, disk full, connection gone): the job is still
                # in it, so the worker waits and reads again rather than leaving the chat
                # silent until a restart.
                failures += 1
                delay = store_backoff(failures)
                log.warning("chat %s: store failed in the worker; retrying in %.1f s",
                            chat_id, delay, exc_info=True)
                await asyncio.sleep(delay)

    async def _release(self, key: Key, fence: Fence) -> None:
        """Let go of a chat's lease, then look once more: another replica may have stored a
        job while this one still held the chat (its claim failed), and it would otherwise
        wait for the next sweep, a third of a lease later."""
        store = self.svc.store
        leaving = self._leaving[key] = asyncio.Event()
        try:
            await store.release_chat(*key, self.owner, fence)
            if store.shared and not self._closing and await store.count_waiting(*key):
                self._kick(key)
        except Exception:  # the lease then simply expires, or the sweep finds the job
            log.warning("chat %s: lease not released", key[0], exc_info=True)
        finally:
            leaving.set()
            if self._leaving.get(key) is leaving:
                del self._leaving[key]

    async def _run(self, job: Job) -> None:
        update_id = job.payload.get("update_id")
        logs.bind(chat_id=job.chat_id, job_id=job.id,
                  update_id=update_id if isinstance(update_id, int) else None)
        message_id = job.payload.get("message_id")
        t = await self.translator_for(job.chat_id, job.payload.get("user_language"))
        resumed = job.state == "running"  # it was running when the bot stopped
        # What the job sent before a restart is not sent again (bot/conversation/outbox.py).
        owner = f"job:{job.id}"
        chat = OutboxChat(
            self.chat_for(job.chat_id, job.thread_id,
                          message_id if isinstance(message_id, int) else None),
            self.svc.store, owner, t, again=resumed,
        )
        ctx = Ctx(chat=chat, t=t, svc=self.svc, job=job)
        if not resumed and not await self.svc.store.start_job(job.id):
            return  # cancelled between the read and now
        try:
            async with job_status(ctx, job):  # one live status with ❌, from the first second
                dealt_with = resumed and self.on_interrupted is not None and (
                    await self.on_interrupted(ctx, job))
                if not dealt_with:
                    await self.handlers[job.kind](ctx, job)
        except asyncio.CancelledError:
            raise  # /cancel marks the job itself; a shutdown leaves it to resume
        except ChatUnavailable as exc:
            log.info("job %s (%s) dropped: %s", job.id, job.kind, exc)
        except TakenOver:
            log.warning("chat %s: job %s was taken over by another replica", job.chat_id, job.id)
            return  # its new owner finishes it
        except LeaseLost:
            raise  # not the job's failure: the worker stops, the new holder finishes it
        except Exception as exc:
            log.exception("chat %s: job %s (%s) failed", job.chat_id, job.id, job.kind)
            if self.on_error:
                try:
                    await self.on_error(ctx, job, exc)
                except Exception:
                    log.exception("error handler failed")
        # Finishing is retried on its own: reading the job again would take it for one
        # interrupted by a restart and tell the person so.
        failures = 0
        while True:
            try:
                await self.svc.store.finish_job(job.id)
                return
            except LeaseLost:
                raise  # a stale holder does not mark done what the new holder works
            except Exception:
                failures += 1
                delay = store_backoff(failures)
                log.warning("chat %s: job %s not marked done; retrying in %.1f s",
                            job.chat_id, job.id, delay, exc_info=True)
                await asyncio.sleep(delay)

    async def cancel(self, chat_id: int, thread_id: int) -> int:
        """Stop what runs in this chat and drop what waits; returns how many jobs ended."""
        count = await self.svc.store.cancel_jobs(chat_id, thread_id)
        task = self._workers.pop((chat_id, thread_id), None)
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("worker failed while being cancelled")
        return count

    def running(self, chat_id: int, thread_id: int) -> int | None:
        """The job this process runs for the chat now, if any."""
        return self._running.get((chat_id, thread_id))

    async def cancel_job(self, chat_id: int, thread_id: int, job_id: int) -> bool:
        """Stop one job (its status's ❌ button): the chat's other work goes on. ``False``
        when it had already ended. On another replica, its lease upkeep stops the job."""
        if not await self.svc.store.cancel_job(chat_id, thread_id, job_id):
            return False
        key = (chat_id, thread_id)
        if self._running.get(key) == job_id and (task := self._workers.pop(key, None)):
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._kick(key)  # the rest of the chat's line
        return True

    async def resume(self) -> int:
        """Start the workers of chats that had unfinished work when the bot stopped (with
        replicas: that no live replica holds), and, with replicas, the lease keeper."""
        keys = await self.svc.store.unclaimed_work()
        for key in keys:
            self._kick(key)
        if self.svc.store.shared and self._replica is None:
            self._replica = asyncio.create_task(self._keep_leases(), name="chat-leases")
            self._watchdog = asyncio.create_task(self._watch_leases(), name="lease-watchdog")
        return len(keys)

    async def _keep_leases(self) -> None:
        """Every third of a lease: renew this replica's leases, stop a worker whose job was
        cancelled by another replica (or whose lease was lost), and start workers for work
        nobody holds (a dead replica's chats, a job that arrived as its holder let go).
        A round may hang on a stalled connection (even its cancellation waits for the
        socket): :meth:`_watch_leases` stops the chats it could not renew in time."""
        store = self.svc.store
        period = self.lease_seconds / 3
        renewed = time.monotonic()
        next_at = renewed + period
        while not self._closing:
            # From tick to tick: the upkeep's own queries do not push the next renewal back.
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at = time.monotonic() + period
            try:
                async with asyncio.timeout(period):
                    running = dict(self._running)  # before renewing: each is claimed by now
                    asked = time.monotonic()
                    held = await store.renew_claims(self.owner, self.lease_seconds)
                    for key in held:
                        if key in self._held:
                            self._held[key] = max(self._held[key], asked)
                    gap, renewed = asked - renewed, asked
                    if gap > 2 * period:
                        log.warning("leases renewed %.1f s apart (lease %.1f s): this replica"
                                    " or the database is overloaded; its chats may move to"
                                    " another", gap, self.lease_seconds)
                    cancelled = await store.cancelled_among(list(running.values()))
                    for key, job_id in running.items():
                        if job_id in cancelled or key not in held:
                            task = self._workers.pop(key, None)
                            if task is not None:
                                log.info("chat %s: job %s stopped (cancelled elsewhere or"
                                         " lease lost)", key[0], job_id)
                                task.cancel()
                    for key in await store.unclaimed_work():
                        self._kick(key)
            except Exception:
                log.warning("lease upkeep failed; retrying", exc_info=True)

    async def _watch_leases(self) -> None:
        """Stop a chat's worker a third of a lease before its lease may expire, counted on
        the monotonic clock from the last grant or renewal that succeeded: nothing here
        waits for the database, so a renewal that hangs cannot keep a worker on a chat that
        another replica is about to take over. (Its irreversible steps are fenced besides,
        for a worker that wakes up later still: bot/store/claims.py.)"""
        period = self.lease_seconds / 3
        safe = self.lease_seconds - period
        while not self._closing:
            now = time.monotonic()
            first = min(self._held.values(), default=now)
            await asyncio.sleep(min(period, max(0.05, first + safe - now)))
            self._stop_expiring(safe)

    def _stop_expiring(self, safe: float) -> None:
        """Stop the workers of chats whose lease was last granted ``safe`` seconds ago or
        more: the next renewal could come too late, and another replica may take them."""
        now = time.monotonic()
        late = [(key, now - at) for key, at in self._held.items() if now - at >= safe]
        for key, ago in late:
            del self._held[key]
            task = self._workers.pop(key, None)
            if task is not None:
                log.warning("chat %s: lease may have expired (last renewed %.1f s ago, lease"
                            " %.1f s): its worker stops", key[0], ago, self.lease_seconds)
                task.cancel()

    async def shutdown(self, grace: float = 0) -> None:
        """Take no new job; let running ones finish for up to ``grace`` seconds, then stop
        the rest. Unfinished jobs stay in the store and resume on the next start."""
        self._closing = True
        tasks = list(self._workers.values())
        if tasks and grace > 0:
            log.info("waiting up to %.0f s for %d running jobs", grace, len(tasks))
            _done, late = await asyncio.wait(tasks, timeout=grace)
            if late:
                log.info("%d jobs parked until the next start", len(late))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()
        for keeper in (self._replica, self._watchdog):  # renewed until the last worker is gone
            if keeper is not None:
                keeper.cancel()
                await asyncio.gather(keeper, return_exceptions=True)
        self._replica = self._watchdog = None

    async def idle(self) -> None:
        """Wait until no chat has work (tests and the demo use this)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)


def store_backoff(failures: int) -> float:
    """Seconds to wait after the store's ``failures``-th failure in a row: 0.5 s doubling
    up to 30 s, so a store that is back is used again soon and a dead one is not hammered."""
    return float(min(30.0, 0.5 * 2 ** min(failures - 1, 6)))
