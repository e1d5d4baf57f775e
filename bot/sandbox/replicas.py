"""Several ``python -m bot`` replicas in webhook mode on one PostgreSQL, behind a proxy.

Why: the promise of replicas (per-chat order, every message answered once, a render survives
the replica that started it) only holds if it holds across OS processes, one of which dies
without warning. The replica test and ``bench/replicas.py`` both run :func:`run_replicas`:
the fake Telegram delivers its webhook to a :class:`RoundRobinProxy`, which spreads the
updates over the replicas; one replica may be SIGKILLed mid-run.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bot.sandbox.backend import FakeBackend
from bot.sandbox.process import BotProcess
from bot.sandbox.proxy import RoundRobinProxy
from bot.sandbox.telegram import FakeTelegram

TOKEN = "515151:REPLICA-TOKEN"
SECRET = "replica-shared-secret"
MARKER = re.compile(r"\bc(\d{4})m(\d{3})\b")
RENDER_CHAT = 9999
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(200_000)
COMPRESS = "compress this video to a smaller file size without losing quality"
FIRST_CHAT = 1000


def marker(chat: int, n: int) -> str:
    return f"c{chat:04d}m{n:03d}"


def markers_in(tg: FakeTelegram, chats: list[int], *phrases: str) -> Counter[str]:
    """How often each marker shows in the chats' visible messages (with ``phrases``: only in
    messages holding one of them)."""
    seen: Counter[str] = Counter()
    for chat in chats:
        for m in tg.messages(chat):
            if not m.deleted and m.text and (not phrases or any(p in m.text for p in phrases)):
                seen.update(f"c{a}m{b}" for a, b in MARKER.findall(m.text))
    return seen


@dataclass
class Outcome:
    """What one run found; the test asserts on it, the bench prints it."""

    messages: int = 0
    seconds: float = 0.0
    answered: int = 0
    unanswered: list[str] = field(default_factory=list)
    answered_twice: list[str] = field(default_factory=list)
    sent_twice: list[str] = field(default_factory=list)
    out_of_order: list[str] = field(default_factory=list)
    interrupted: int = 0
    answer_then_notice: list[str] = field(default_factory=list)
    killed_pid: int | None = None
    killed_chats: int = 0
    recovery_seconds: float | None = None
    render_delivered: int = 0
    render_requests: int = 0
    render_owner_killed: bool = False
    forwarded: dict[str, int] = field(default_factory=dict)
    exit_codes: list[int] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    timed_out: bool = False

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def _web_port(proc: BotProcess) -> int:
    text = proc.log_text()
    found = re.findall(r"web server on [\d.]+:(\d+) \(webhook mode\)", text)
    if not found:
        raise RuntimeError(f"no web server port in {proc.log_path}")
    return int(found[-1])


async def _leases(pg_url: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch("SELECT chat_id, owner FROM chat_leases")
    finally:
        await conn.close()
    return [(int(r["chat_id"]), str(r["owner"])) for r in rows]


def _owner_pid(owner: str) -> int:
    return int(owner.split(":")[1])


async def run_replicas(
    workdir: Path,
    pg_url: str,
    *,
    replicas: int = 3,
    chats: int = 200,
    per_chat: int = 10,
    kill: bool = True,
    lease_seconds: float = 2.0,
    timeout: float = 300.0,
) -> Outcome:
    """Start the fakes, the proxy and ``replicas`` bots; send ``chats`` × ``per_chat`` texts
    (and, with ``kill``, one video whose render is in flight when its replica is SIGKILLed
    after a third of the answers); wait until every message is answered."""
    out = Outcome(messages=chats * per_chat)
    tg = FakeTelegram(TOKEN)
    backend = FakeBackend()
    proxy = RoundRobinProxy()
    procs: list[BotProcess] = []
    await tg.start()
    await backend.start()
    await proxy.start()
    try:
        settings = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": tg.url,
            "NEMO_API_URL": backend.url,
            "DATABASE_URL": pg_url,
            "WEBHOOK_URL": f"{proxy.url}/hook",
            "WEBHOOK_SECRET": SECRET,
            "PORT": "0",
            "REPLICA_LEASE_SECONDS": str(lease_seconds),
            "RENDER_POLL_SECONDS": "0.05",
            "STILL_WORKING_SECONDS": "600",
            "RATE_LIMIT_RETRY_SECONDS": "0.05",
            "LOG_LEVEL": "INFO",
            # Ten texts a chat at once: the per-chat turn limit (per process) would refuse
            # some with one replica and none with three; the run measures replicas, not it.
            "TURN_RATE_LIMIT": "0",
        }
        for i in range(replicas):
            (workdir / f"r{i}").mkdir(parents=True, exist_ok=True)
            procs.append(BotProcess(workdir / f"r{i}", settings))
        out.logs = [p.log_path for p in procs]
        await asyncio.gather(*(p.start() for p in procs))
        await asyncio.gather(*(p.wait_ready() for p in procs))
        proxy.upstreams = [f"http://127.0.0.1:{_web_port(p)}" for p in procs]

        if kill:
            backend.render_polls = 10**6  # the render stays in flight until the kill
            await tg.send_video(RENDER_CHAT, VIDEO, file_name="clip.mp4", duration=12,
                                caption=COMPRESS)
            await tg.wait_for(lambda: backend.renders, timeout=60)

        all_chats = [FIRST_CHAT + c for c in range(chats)]
        started = time.monotonic()
        for n in range(per_chat):
            for chat in all_chats:
                await tg.send_text(chat, f"please look at {marker(chat, n)}")

        def answers(kind: str = "") -> Counter[str]:
            """Markers answered: by the agent ("Upload a video"), by the notice a replica
            sends for a turn another one had sent when it died, or (default) by either."""
            wanted = [kind] if kind else ["Upload a video", "restarted while working"]
            return markers_in(tg, all_chats, *wanted)

        try:
            async with asyncio.timeout(timeout):
                if kill:
                    await tg.wait_for(lambda: len(answers()) >= out.messages // 3, timeout)
                    leases = await _leases(pg_url)
                    render_owner = next((o for c, o in leases if c == RENDER_CHAT), None)
                    pids = {p.pid: p for p in procs}
                    victim = procs[0]
                    if render_owner is not None and _owner_pid(render_owner) in pids:
                        victim = pids[_owner_pid(render_owner)]
                        out.render_owner_killed = True
                    held = {c for c, o in leases if _owner_pid(o) == victim.pid}
                    before = {c: len(tg.messages(c)) for c in held}
                    out.killed_pid = victim.pid
                    out.killed_chats = len(held)
                    killed_at = time.monotonic()
                    await victim.stop(signal.SIGKILL)
                    backend.render_polls = 1  # the next poll (by another replica) finishes it
                    while out.recovery_seconds is None and held:
                        if any(len(tg.messages(c)) > before[c] for c in held):
                            out.recovery_seconds = time.monotonic() - killed_at
                        await asyncio.sleep(0.01)
                await tg.wait_for(lambda: len(answers()) >= out.messages, timeout)
                out.seconds = time.monotonic() - started
                if kill:
                    await tg.wait_for(
                        lambda: [m for m in tg.messages(RENDER_CHAT) if m.kind == "video"],
                        timeout=max(5.0, lease_seconds * 5),
                    )
        except (TimeoutError, AssertionError):  # asyncio's timeout, or the fake's wait_for
            out.timed_out = True  # what is missing is reported below, not hidden
        await asyncio.sleep(min(2.0, lease_seconds))  # anything late or doubled shows up

        seen, agent = answers(), answers("Upload a video")
        notices = answers("restarted while working")
        expected = [marker(c, n) for c in all_chats for n in range(per_chat)]
        out.answered = sum(1 for k in expected if seen[k] >= 1)
        out.unanswered = [k for k in expected if not seen[k]]
        # Twice: two agent answers, or two notices. An agent answer the killed replica had
        # already shown, then the notice from the replica resuming its job, is the restart
        # rule at work (the turn is not re-sent; the person is told to check): counted apart.
        out.answered_twice = [k for k in expected if agent[k] > 1 or notices[k] > 1]
        out.answer_then_notice = [k for k in expected if agent[k] == 1 and notices[k] == 1]
        for k in out.answered_twice + out.unanswered + out.answer_then_notice:
            chat = int(k[1:5])
            out.details.append(f"{k}: " + " | ".join(
                f"{m.message_id}{' (deleted)' if m.deleted else ''}: {m.text}"
                for m in tg.messages(chat)))
        for chat in all_chats:
            for m in tg.messages(chat):
                if m.text and "restarted while working" in m.text:
                    out.interrupted += 1
        received: dict[int, list[int]] = {}
        for session in backend.sessions.values():
            for text in session.messages:
                for a, b in MARKER.findall(text):
                    received.setdefault(int(a), []).append(int(b))
        for chat, numbers in received.items():
            if numbers != sorted(numbers):
                out.out_of_order.append(f"chat {chat}: {numbers}")
            out.sent_twice += [marker(chat, n) for n, k in Counter(numbers).items() if k > 1]
        if kill:
            out.render_delivered = sum(
                1 for m in tg.messages(RENDER_CHAT) if m.kind == "video" and not m.deleted
            )
            out.render_requests = len(backend.requests_to("render"))
        out.forwarded = dict(proxy.forwarded)
    finally:
        for p in procs:
            if p.running:
                out.exit_codes.append(await p.stop(signal.SIGTERM))
        await proxy.stop()
        await backend.stop()
        await tg.stop()
    return out
