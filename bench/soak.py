"""Soak: many group chats, thousands of updates, injected faults, two hard restarts.

    python bench/soak.py --chats 200 --updates 5000 --fault-rate 0.05 --seed 1 --duration 300

``--settle`` bounds the wait after the last update (default 600 s); what is still queued then
counts as lost, so a mix with more updates per group than Telegram's 20 messages a minute per
group lets through measures backlog, not loss (keep ``updates / chats`` small for ``duration``).

The bot runs as its own process (``python -m bot``, :class:`bot.sandbox.process.BotProcess`)
against the fake Telegram and fake backend running here, both injecting a seeded ``fault-rate``
of failures (Telegram: 429 with retry_after, JSON 5xx, nginx HTML pages on any method,
getUpdates and file downloads included; 403 for a few blocked chats. Backend: 429, 5xx, HTML
pages, SSE streams cut mid-turn). Users write for ``duration`` seconds: texts (plain and
"compress" edits, which auto-export), videos with and without captions, albums, ``/export``,
``/status``, presses of the Export button and ``/cancel``. A third of the way in the bot gets
SIGTERM, two thirds in SIGKILL; each time it is started again on the same database. After the
last update the soak waits until nothing moves, stops the bot and prints one line.

Every chat is a supergroup, because there every answer quotes the message it answers: that is
how an answer is traced to its update. Every user text carries a unique marker (``q00042``),
which the fake agent echoes at the end of its answer and which the backend records.

Definitions (all counts are of user updates, an album's items counting one each):

- *final answer*: a bot message, not deleted, quoting the update (for a button press: quoting
  the message whose button was pressed), that is not progress ("⏳ Still working…",
  "🎬 Rendering…") or the "I'll get to this" queued notice. An error notice, a "try again
  later" rate-limit notice or an "interrupted, please check /status" notice is a final answer.
- *answered*: the update has a final answer (an album: any of its items has one).
- *lost*: not answered, in a chat that was not blocked, and not covered by a ``/cancel`` sent
  later in the same chat that was answered with a "Stopped. N cancelled" notice.
- *answered twice*: two final answers to one update that are the same thing (same text, or two
  video/document/link deliveries).
- *edits applied twice*: a marker the backend accepted in two ``/run_sse`` calls (the same
  instruction sent twice; a call refused with 429/5xx/HTML before streaming does not count).
- *exports delivered twice*: an update answered with two video/document/link deliveries.
- *exceptions escaped*: ERROR and CRITICAL records in the bot's log from its own loggers
  (``bot.*``: a job that failed, the error handler's "update handling failed", "error handler
  failed"), from ``asyncio`` (a task's exception never retrieved) and from python-telegram-bot's
  Application (an error with no handler), plus errors inside the fake Telegram. Not counted:
  python-telegram-bot's request logger, which logs every HTML error page it could not parse
  at ERROR before the bot retries the call, and its Updater's note that updates pulled while
  stopping will be pulled again.
- *faults injected*: every injected failure answered by either fake, 403s included.

Goal: 0 lost, 0 doubled, 0 escaped.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import re
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.sandbox.backend import FakeBackend
from bot.sandbox.process import BotProcess
from bot.sandbox.telegram import BotMessage, FakeTelegram

TOKEN = "424242:SOAK-TOKEN"
BOT = "@rtk_compressor_bot"
MARKER = re.compile(r"\bq\d{5}\b")
ESCAPED = re.compile(
    r"^\S+ \S+ (?:ERROR|CRITICAL) (?:bot\.|asyncio|root|telegram\.ext\.Application).*$",
    re.MULTILINE,
)
PROGRESS = ("⏳", "🎬 Rendering", "Got it, I'll get to this")
KINDS: dict[str, float] = {
    "text": 0.22,
    "compress": 0.18,
    "video": 0.14,
    "album": 0.06,
    "export": 0.12,
    "status": 0.08,
    "press": 0.12,
    "cancel": 0.08,
}


@dataclass
class Sent:
    """One user action: its update(s), and the message its answers quote."""

    chat: int
    kind: str
    at: float
    quote_id: int
    marker: str = ""
    updates: int = 1


@dataclass
class Result:
    """What the soak found (see the module docstring for each definition)."""

    sent: int = 0
    answered: int = 0
    answered_twice: int = 0
    lost: int = 0
    edits_twice: int = 0
    exports_twice: int = 0
    escaped: int = 0
    faults: int = 0
    excused_blocked: int = 0
    covered_by_cancel: int = 0
    exit_codes: list[int] = field(default_factory=list)
    wall: float = 0.0
    details: list[str] = field(default_factory=list)
    fault_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.answered_twice or self.edits_twice
                    or self.exports_twice or self.escaped)

    def line(self) -> str:
        kinds = " ".join(f"{k}={v}" for k, v in sorted(self.fault_kinds.items()))
        return (
            f"updates sent={self.sent} answered={self.answered} "
            f"answered twice={self.answered_twice} lost={self.lost} "
            f"edits applied twice={self.edits_twice} "
            f"exports delivered twice={self.exports_twice} "
            f"exceptions escaped={self.escaped} faults injected={self.faults} "
            f"({kinds}; {self.excused_blocked} updates to blocked chats, "
            f"{self.covered_by_cancel} covered by /cancel; exit codes {self.exit_codes}; "
            f"{self.wall:.0f} s)"
        )


def _quoted(message: BotMessage) -> int | None:
    reply = message.params.get("reply_parameters")
    if isinstance(reply, dict) and isinstance(reply.get("message_id"), int):
        return int(reply["message_id"])
    value = message.params.get("reply_to_message_id")
    return int(value) if isinstance(value, int) else None


def _is_delivery(message: BotMessage) -> bool:
    return message.kind in ("video", "document") or "http" in (message.text or "")


def _final(message: BotMessage) -> bool:
    return not message.deleted and not (message.text or "").startswith(PROGRESS)


class Soak:
    def __init__(self, workdir: Path, *, chats: int, updates: int, fault_rate: float,
                 seed: int, duration: float, settle: float = 300.0) -> None:
        self.workdir = workdir
        self.settle = settle
        self.n_chats = chats
        self.n_updates = updates
        self.fault_rate = fault_rate
        self.duration = duration
        self.rng = random.Random(seed)
        self.seed = seed
        self.tg = FakeTelegram(TOKEN)
        self.backend = FakeBackend(render_size=20_000, frame_delay=0.01)
        self.backend.annotate = lambda text: " " + " ".join(MARKER.findall(text))
        self.chats = [-1_001_000_000_000 - i for i in range(chats)]
        self.blocked = set(self.rng.sample(self.chats, max(1, chats // 50)))
        self.sent: list[Sent] = []
        self.pressed: set[tuple[int, int]] = set()
        self.alias: dict[tuple[int, int], int] = {}
        """Album items after the first, mapped to the first (answers may quote either)."""
        self._markers = 0
        self.stops: list[tuple[str, int, int]] = []
        """Each stop: signal, and how many Bot API calls the fake had seen before and after."""

    def marker(self) -> str:
        self._markers += 1
        return f"q{self._markers:05d}"

    # -- users ----------------------------------------------------------------------------

    def _user(self, chat: int) -> dict[str, Any]:
        return {"id": 5_000_000 + abs(chat) % 1_000_000, "is_bot": False,
                "first_name": "Soak", "language_code": "en"}

    async def act(self, chat: int, kind: str, now: float) -> None:
        """One user action in ``chat``; appends what was sent to :attr:`sent`."""
        tg, user = self.tg, self._user(chat)
        opts: dict[str, Any] = {"user": user, "chat_title": f"soak {chat}"}
        m = self.marker()
        if kind == "text":
            msg = await tg.send_text(chat, f"{BOT} tell me about the pacing {m}", **opts)
        elif kind == "compress":
            msg = await tg.send_text(chat, f"{BOT} compress it a bit more {m}", **opts)
        elif kind == "video":
            caption = f"{BOT} make it smaller {m}" if self.rng.random() < 0.5 else BOT
            msg = await tg.send_video(chat, b"\x00" * 4096, file_name=f"{m}.mp4",
                                      caption=caption, **opts)
            m = m if caption != BOT else ""
        elif kind == "album":
            group = f"album-{m}"
            items = self.rng.randint(2, 3)
            caption = f"{BOT} join these {m}" if self.rng.random() < 0.5 else BOT
            ids = []
            for i in range(items):
                sent = await tg.send_video(chat, b"\x00" * 2048, file_name=f"{m}-{i}.mp4",
                                           caption=caption if i == 0 else None,
                                           media_group_id=group, **opts)
                ids.append(int(sent["message_id"]))
            for other in ids[1:]:
                self.alias[(chat, other)] = ids[0]
            self.sent.append(Sent(chat, kind, now, ids[0], m if caption != BOT else "", items))
            return
        elif kind == "export":
            msg = await tg.send_text(chat, "/export", **opts)
        elif kind == "status":
            msg = await tg.send_text(chat, "/status", **opts)
        elif kind == "cancel":
            msg = await tg.send_text(chat, "/cancel", **opts)
        else:  # press: the newest Export button not pressed yet, else a plain text
            target = next(
                (b for b in reversed(tg.messages(chat))
                 if not b.deleted and (chat, b.message_id) not in self.pressed
                 and any(x.get("callback_data") == "export" for x in b.buttons)),
                None,
            )
            if target is None:
                await self.act(chat, "text", now)
                return
            self.pressed.add((chat, target.message_id))
            await tg.press_button(chat, target.message_id, "export", user=user)
            self.sent.append(Sent(chat, kind, now, target.message_id))
            return
        self.sent.append(Sent(chat, kind, now, int(msg["message_id"]), m))

    # -- the run ----------------------------------------------------------------------------

    async def run(self) -> Result:
        # A killed bot leaves half-read requests; the fakes' server would print each one.
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        started = time.monotonic()
        async with self.tg, self.backend:
            for chat in self.chats:
                self.tg.set_admins(chat, [self._user(chat)["id"]])
            bot = BotProcess(self.workdir, {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_API_URL": self.tg.url,
                "NEMO_API_URL": self.backend.url,
                "STILL_WORKING_SECONDS": "20",
                "RENDER_POLL_SECONDS": "1",
                "RATE_LIMIT_RETRY_SECONDS": "0.2",
                "LOG_LEVEL": "INFO",
            })
            await bot.start()
            await bot.wait_ready()
            self.tg.inject_faults(self.fault_rate, seed=self.seed, blocked_chats=self.blocked)
            self.backend.inject_faults(self.fault_rate, seed=self.seed + 1)
            try:
                await self._traffic(bot)
                await self._quiesce(bot, timeout=self.settle)
            finally:
                if bot.running:
                    self.tg.inject_faults(0)
                    await bot.stop(signal.SIGTERM)
            result = self._count(bot)
        result.wall = time.monotonic() - started
        return result

    async def _traffic(self, bot: BotProcess) -> None:
        """Spread the updates over ``duration``; SIGTERM at 1/3, SIGKILL at 2/3."""
        kinds, weights = list(KINDS), list(KINDS.values())
        plan = sorted(
            (self.rng.uniform(0, self.duration), self.rng.choice(self.chats),
             self.rng.choices(kinds, weights)[0])
            for _ in range(self.n_updates)
        )
        restarts = [(self.duration / 3, signal.SIGTERM), (2 * self.duration / 3, signal.SIGKILL)]
        t0 = time.monotonic()
        sent_updates = 0
        for at, chat, kind in plan:
            if sent_updates >= self.n_updates:
                break
            if restarts and at >= restarts[0][0]:
                _, sig = restarts.pop(0)
                before = len(self.tg.calls)
                await bot.stop(sig)
                self.stops.append((sig.name, before, len(self.tg.calls)))
                await bot.start()
            delay = at - (time.monotonic() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            if kind == "album" and self.n_updates - sent_updates < 3:
                kind = "text"
            await self.act(chat, kind, at)
            sent_updates += self.sent[-1].updates
        await bot.wait_ready()

    def _pending_jobs(self) -> int:
        db = sqlite3.connect(f"file:{self.workdir / 'bot.db'}?mode=ro", uri=True, timeout=5)
        try:
            row = db.execute(
                "SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')"
            ).fetchone()
        finally:
            db.close()
        return int(row[0])

    async def _quiesce(self, bot: BotProcess, quiet: float = 3.0, timeout: float = 300) -> None:
        """Until no update waits, no job is unfinished and neither fake saw a call for
        ``quiet`` seconds (getUpdates aside)."""
        deadline = time.monotonic() + timeout
        last = (-1, -1)
        still_since = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            calls = sum(1 for c in self.tg.calls if c.method != "getUpdates")
            now = (calls, len(self.backend.requests))
            if now != last:
                last, still_since = now, time.monotonic()
                continue
            if (time.monotonic() - still_since >= quiet and not self.tg.pending_updates()
                    and not await asyncio.to_thread(self._pending_jobs)):
                return

    # -- counting ---------------------------------------------------------------------------

    def _call_index(self, messages: list[BotMessage]) -> list[int]:
        """Where in the fake's call log each message was sent (to place it against a stop)."""
        ids = {(m.chat_id, m.message_id) for m in messages}
        return [i for i, c in enumerate(self.tg.calls)
                if c.ok and isinstance(c.result, dict) and c.method.startswith("send")
                and (c.chat_id, c.result.get("message_id")) in ids]

    def _count(self, bot: BotProcess) -> Result:
        r = Result(exit_codes=bot.exit_codes)
        answers: dict[tuple[int, int], list[BotMessage]] = {}
        for chat in self.chats:
            for message in self.tg.messages(chat):
                quoted = _quoted(message)
                if quoted is not None and _final(message):
                    key = (chat, self.alias.get((chat, quoted), quoted))
                    answers.setdefault(key, []).append(message)
        cancels: dict[int, list[float]] = {}
        for s in self.sent:
            texts = [a.text or "" for a in answers.get((s.chat, s.quote_id), [])]
            if s.kind == "cancel" and any(t.startswith("⏹") for t in texts):
                cancels.setdefault(s.chat, []).append(s.at)
        for s in self.sent:
            r.sent += s.updates
            got = answers.get((s.chat, s.quote_id), [])
            if s.chat in self.blocked:
                r.excused_blocked += s.updates
                continue
            if got:
                r.answered += s.updates
            elif any(at > s.at for at in cancels.get(s.chat, [])):
                r.covered_by_cancel += s.updates
            else:
                r.lost += s.updates
                r.details.append(f"lost: chat {s.chat} {s.kind} message {s.quote_id} "
                                 f"{s.marker} at {s.at:.1f}s")
            same = Counter("delivery" if _is_delivery(a) else f"{a.kind}:{a.text}" for a in got)
            if any(n > 1 for n in same.values()):
                r.answered_twice += s.updates
                r.details.append(f"answered twice: chat {s.chat} {s.kind} {s.quote_id} "
                                 f"{s.marker}: {[k for k, n in same.items() if n > 1]} "
                                 f"(Bot API calls {self._call_index(got)}, stops {self.stops})")
            if same["delivery"] > 1:
                r.exports_twice += 1
        accepted = Counter(
            m for session in self.backend.sessions.values()
            for text in session.messages for m in MARKER.findall(text)
        )
        doubled = [m for m, n in accepted.items() if n > 1]
        r.edits_twice = len(doubled)
        if doubled:
            r.details.append(f"edits applied twice: {doubled[:20]}")
        log = bot.log_text()
        escaped = ESCAPED.findall(log)
        r.escaped = len(escaped) + len(self.tg.server_errors)
        r.details += [f"escaped: {line}" for line in escaped]
        kinds = Counter({f"tg_{k}": v for k, v in self.tg.faults_injected.items()})
        kinds.update({f"be_{k}": v for k, v in self.backend.faults_injected.items()})
        r.fault_kinds = dict(kinds)
        r.faults = sum(kinds.values())
        return r


async def soak(workdir: Path, **options: Any) -> Result:
    return await Soak(workdir, **options).run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=300.0,
                        help="seconds over which the updates are sent")
    parser.add_argument("--settle", type=float, default=600.0,
                        help="at most this many seconds, after the last update, for the bot to "
                             "finish (a backlog still queued then counts as lost)")
    parser.add_argument("--keep", type=Path, help="keep the bot's database and log here")
    parser.add_argument("--verbose", action="store_true", help="list each failure")
    args = parser.parse_args()
    options = {"chats": args.chats, "updates": args.updates, "fault_rate": args.fault_rate,
               "seed": args.seed, "duration": args.duration,
               "settle": args.settle}
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(soak(args.keep, **options))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(soak(Path(tmp), **options))
    if args.verbose:
        for line in result.details:
            print(line)
    print(result.line())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
