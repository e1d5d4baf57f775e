"""A TCP proxy that can stall, and a replica run whose database connection stalls past its
lease (issue 23, item 2).

Why: a replica that dies is the easy case (its leases expire, another resumes). The hard one
is a replica that lives on while its database does not answer: its lease renewals hang, its
lease expires, another replica takes its chat over, and then the stalled connection comes
back, with the first replica still holding a job in mid-flight and its writes in the
socket's buffers. :class:`StallProxy` sits between that replica and the real PostgreSQL and
pauses forwarding (both ways, new connections too) until told to go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.sandbox.backend import FakeBackend
from bot.sandbox.process import BotProcess
from bot.sandbox.proxy import RoundRobinProxy
from bot.sandbox.replicas import (
    COMPRESS,
    MARKER,
    RENDER_CHAT,
    SECRET,
    TOKEN,
    VIDEO,
    marker,
    markers_in,
)
from bot.sandbox.telegram import FakeTelegram


class StallProxy:
    """Forwards TCP to ``host:port``; :meth:`stall` holds every byte until :meth:`flow`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    def url_for(self, url: str) -> str:
        """``url`` (a database URL) pointed at this proxy instead."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.port}" if userinfo else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._flowing.set()
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def stall(self) -> None:
        self._flowing.clear()

    def flow(self) -> None:
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while chunk := await src.read(65536):
                await self._flowing.wait()
                dst.write(chunk)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                dst.close()


@dataclass
class StallOutcome:
    """What the run found; the test asserts on it."""

    stalled_owner_held_render: bool = False
    videos: int = 0
    render_requests: int = 0
    uploads: int = 0
    answered_twice: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    sent_twice: list[str] = field(default_factory=list)
    stopped_in_time: bool = False
    logs: list[Path] = field(default_factory=list)
    timed_out: bool = False


async def _render_owner(pg_url: str) -> str | None:
    conn = await asyncpg.connect(pg_url)
    try:
        value = await conn.fetchval(
            "SELECT owner FROM chat_leases WHERE chat_id = $1 AND expires_at >"
            " EXTRACT(EPOCH FROM clock_timestamp())", RENDER_CHAT)
    finally:
        await conn.close()
    return None if value is None else str(value)


async def run_stalled_replica(
    workdir: Path, pg_url: str, *, lease_seconds: float = 4.0, chats: int = 20,
    per_chat: int = 3, timeout: float = 180.0,
) -> StallOutcome:
    """Three replicas; the first reaches PostgreSQL through a :class:`StallProxy`. It takes
    a video whose render stays in flight; then its database stalls for longer than a lease,
    the render finishes meanwhile, another replica takes the chat over and delivers, texts
    to other chats keep coming; then the stalled connection flows again."""
    out = StallOutcome()
    tg, backend, proxy = FakeTelegram(TOKEN), FakeBackend(), RoundRobinProxy()
    host_port = urlsplit(pg_url).netloc.rpartition("@")[2]
    host, _, port = host_port.partition(":")
    stall = StallProxy(host, int(port or 5432))
    procs: list[BotProcess] = []
    for part in (tg, backend, proxy, stall):
        await part.start()
    try:
        settings = {
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": tg.url,
            "NEMO_API_URL": backend.url, "DATABASE_URL": pg_url,
            "WEBHOOK_URL": f"{proxy.url}/hook", "WEBHOOK_SECRET": SECRET, "PORT": "0",
            "REPLICA_LEASE_SECONDS": str(lease_seconds), "RENDER_POLL_SECONDS": "0.05",
            "STILL_WORKING_SECONDS": "600", "RATE_LIMIT_RETRY_SECONDS": "0.05",
            "LOG_LEVEL": "INFO", "TURN_RATE_LIMIT": "0",
        }
        for i in range(3):
            (workdir / f"r{i}").mkdir(parents=True, exist_ok=True)
            env = dict(settings)
            if i == 0:
                env["DATABASE_URL"] = stall.url_for(pg_url)
            procs.append(BotProcess(workdir / f"r{i}", env))
        out.logs = [p.log_path for p in procs]
        from bot.sandbox.replicas import _web_port  # one parser of the ready line

        await procs[0].start()
        await procs[0].wait_ready()
        proxy.upstreams = [f"http://127.0.0.1:{_web_port(procs[0])}"]
        backend.render_polls = 10**6  # in flight until the stall
        await tg.send_video(RENDER_CHAT, VIDEO, file_name="clip.mp4", duration=12,
                            caption=COMPRESS)
        await tg.wait_for(lambda: backend.renders, timeout=60)
        owner = await _render_owner(pg_url)
        out.stalled_owner_held_render = owner is not None and f":{procs[0].pid}:" in owner
        await asyncio.gather(*(p.start() for p in procs[1:]))
        await asyncio.gather(*(p.wait_ready() for p in procs[1:]))
        proxy.upstreams += [f"http://127.0.0.1:{_web_port(p)}" for p in procs[1:]]

        all_chats = [1000 + c for c in range(chats)]
        try:
            async with asyncio.timeout(timeout):
                stall.stall()
                stalled_at = time.monotonic()
                backend.render_polls = 1  # the render is done: whoever polls next delivers
                for n in range(per_chat):
                    for chat in all_chats:
                        await tg.send_text(chat, f"please look at {marker(chat, n)}")
                await tg.wait_for(
                    lambda: [m for m in tg.messages(RENDER_CHAT) if m.kind == "video"],
                    timeout=timeout,
                )
                # The stalled replica must have stopped its worker before its lease ran out.
                out.stopped_in_time = "lease may have expired" in procs[0].log_text()
                await asyncio.sleep(max(0.0, lease_seconds * 1.5 - (time.monotonic()
                                                                    - stalled_at)))
                stall.flow()  # its buffered writes reach the database now, late

                await tg.wait_for(
                    lambda: len(markers_in(tg, all_chats, "Upload a video")) >= chats * per_chat,
                    timeout,
                )
        except (TimeoutError, AssertionError):
            out.timed_out = True
        await asyncio.sleep(lease_seconds)  # anything late or doubled shows up
        seen = markers_in(tg, all_chats)
        expected = [marker(c, n) for c in all_chats for n in range(per_chat)]
        out.unanswered = [k for k in expected if not seen[k]]
        out.answered_twice = [k for k in expected if seen[k] > 1]
        received: Counter[str] = Counter()
        for session in backend.sessions.values():
            for text in session.messages:
                received.update(f"c{a}m{b}" for a, b in MARKER.findall(text))
        out.sent_twice = [k for k, count in received.items() if count > 1]
        out.videos = sum(1 for m in tg.messages(RENDER_CHAT) if m.kind == "video")
        out.render_requests = len(backend.requests_to("render"))
        out.uploads = len(backend.requests_to("upload"))
    finally:
        stall.flow()
        for p in procs:
            if p.running:
                await p.stop(signal.SIGTERM)
        for part in (stall, proxy, backend, tg):
            await part.stop()
    return out
