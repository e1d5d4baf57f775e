"""The bot beside a bare relay, in one run, against the same fakes: one table for the README.

    python bench/suite.py                      # the README's table (about 6 minutes on 2 cores)
    python bench/suite.py --chats 200 --still-working 20 --probe-seconds 5   # a quick look

The fake Telegram and the fake backend run in this process; the bot (``python -m bot``) and
the bare relay (``bench/bare_relay.py``: python-telegram-bot + httpx-sse, nothing else) run
as child processes, so the CPU time and memory read from each child (psutil) are its own.
Each figure is printed beside its baselines from the same run: the bare relay, and for
latencies a bare httpx-sse request from this process to the same fake backend.

Turns are chosen by the message's first word:
- ``cpu``/``probe``/``floor``: 31 SSE frames (30 partial text chunks 5 ms apart, then the
  final text), no tool call;
- ``hold``: a tool call, then another every 10 s for 10 minutes (a long agent turn).

Relay overhead is measured per turn as (answer reached Telegram - message sent) minus the
time the backend spent streaming that turn, so it is the relay's own latency, not the
backend's. Probes go at 5/s, so they measure latency, not saturation of a shared machine.
Load is kept under Telegram's ~30 messages/s (25/s everywhere), since above it
python-telegram-bot's AIORateLimiter makes any bot queue its answers.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import itertools
import json
import logging
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from aiohttp import web
from httpx_sse import aconnect_sse
from prometheus_client.parser import text_string_to_metric_families

from bot.sandbox.backend import (
    _RECORD,
    FakeBackend,
    ScriptedTurn,
    _message_text,
    adk_call,
    adk_text,
    sleep_frame,
)
from bot.sandbox.telegram import FakeTelegram, int_chat_id

HERE = Path(__file__).resolve().parent
TOKEN = "123456:BENCH-TOKEN"
RATE = 25.0  # messages per second into the bots: under Telegram's ~30/s for answers
PROBE_RATE = 5.0  # latency probes per second: light, so they measure latency, not saturation
CHUNKS = [f"chunk {i:02d} of the agent's answer. " for i in range(30)]
"""The answer starts with the message's text and a colon, so answers are matched to turns."""
FRAME_DELAY = 0.005
PROBE_CHATS = 40
HOLD_BASE = 100_000
BURST_BASE = 500_000


def text_turn(text: str) -> ScriptedTurn:
    inv = "e-bench"
    chunks = [f"{text}: ", *CHUNKS[1:]]
    frames: list[Any] = [adk_text(c, partial=True, invocation_id=inv) for c in chunks]
    frames.append(adk_text("".join(chunks), invocation_id=inv))
    return ScriptedTurn(frames, delay=FRAME_DELAY)


def hold_turn() -> ScriptedTurn:
    frames: list[Any] = [adk_call("render_preview")]
    for _ in range(60):
        frames += [sleep_frame(10), adk_call("render_preview")]
    return ScriptedTurn(frames, delay=0)


class BenchBackend(FakeBackend):
    """Turns picked by the message's first word; when each stream started and ended."""

    def __init__(self) -> None:
        super().__init__(frame_delay=FRAME_DELAY)
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}

    def _default_turn(self, session: Any, text: str) -> ScriptedTurn:
        word = text.split(" ", 1)[0]
        if word in {"cpu", "probe", "floor"}:
            return text_turn(text)
        if word == "hold":
            return hold_turn()
        return super()._default_turn(session, text)

    async def _stream(self, request: Any, session: Any, turn: ScriptedTurn) -> Any:
        text = _message_text(request[_RECORD].json or {})
        self.started[text] = time.perf_counter()
        if text.split(" ", 1)[0] == "hold":
            return await super()._stream(request, session, turn)
        # A text turn, written here so its end is the moment the last frame was sent.
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i, frame in enumerate(turn.frames):
            if i:
                await asyncio.sleep(FRAME_DELAY)
            await resp.write(f"data: {json.dumps(frame)}\n\n".encode())
        self.ended[text] = time.perf_counter()
        await resp.write_eof()
        return resp


class BenchTelegram(FakeTelegram):
    """Records when answers and "still working" messages reach Telegram."""

    def __init__(self) -> None:
        super().__init__(TOKEN)
        self.first_poll: float | None = None
        self._answers: dict[str, asyncio.Future[float]] = {}
        self.still: dict[int, list[float]] = defaultdict(list)

    def expect(self, key: str) -> asyncio.Future[float]:
        """When the answer to ``key`` (a turn's text, or ``chat:<id>``) reaches Telegram."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._answers[key] = future
        return future

    async def _m_get_updates(self, req: Any) -> Any:
        if self.first_poll is None:
            self.first_poll = time.perf_counter()
        return await super()._m_get_updates(req)

    def _seen(self, req: Any) -> None:
        """An answer (sent, or edited into the first contact's "Setting up…") or a "still
        working" message reached Telegram."""
        now = time.perf_counter()
        chat = int_chat_id(req.params.get("chat_id"))
        if chat is None:
            return
        text = str(req.params.get("text", ""))
        if text.startswith("⏳"):
            self.still[chat].append(now)
            return
        head = text.split(":", 1)[0] if ":" in text[:40] else ""
        future = self._answers.pop(head, None)
        if future is None and req.method == "sendMessage":
            future = self._answers.pop(f"chat:{chat}", None)
        if future is not None and not future.done():
            future.set_result(now)

    async def _m_send_message(self, req: Any) -> Any:
        self._seen(req)
        return await super()._m_send_message(req)

    async def _m_edit_message_text(self, req: Any) -> Any:
        self._seen(req)
        return await super()._m_edit_message_text(req)


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)] if ordered else float("nan")


@dataclass
class Held:
    """Bot API calls of one method held back by the bot's rate limiter during a phase, from
    its ``bot_telegram_limiter_wait_seconds`` histogram (so p99 is a bucket's bound)."""

    count: int
    total: float
    p99: float  # the upper bound of the bucket holding the 99th percentile

    def __str__(self) -> str:
        mean = self.total / self.count if self.count else 0.0
        return f"{self.count} calls, mean {mean:.2f} s, p99 ≤ {self.p99:g} s"


def held_back(before: dict[str, float], after: dict[str, float], method: str) -> Held:
    """The histogram's growth between two scrapes (keys ``name|le``)."""
    name = "bot_telegram_limiter_wait_seconds"
    grown = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    count = int(grown.get(f"{name}_count|{method}|", 0))
    bounds = sorted(
        (float(k.rsplit("|", 1)[1]), v) for k, v in grown.items()
        if k.startswith(f"{name}_bucket|{method}|")
    )
    p99 = next((le for le, cum in bounds if cum >= 0.99 * count), float("nan"))
    return Held(count, grown.get(f"{name}_sum|{method}|", 0.0), p99)


def free_port() -> int:
    """A port the OS picks, for the bot's /metrics (closed again before the bot binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Figures:
    startup: list[float] = field(default_factory=list)
    cpu_ms: float = float("nan")
    cpu_rounds: list[float] = field(default_factory=list)  # interleaved with the other
    overhead: dict[int, list[float]] = field(default_factory=dict)
    rss_mb: float = float("nan")
    still_first: list[float] = field(default_factory=list)
    still_edits: list[float] = field(default_factory=list)
    held: dict[str, Held] = field(default_factory=dict)
    burst: list[float] = field(default_factory=list)


class Run:
    """One child process (bot or bare relay) against fresh fakes."""

    def __init__(self, kind: str, args: argparse.Namespace, workdir: Path) -> None:
        self.kind = kind
        self.args = args
        self.workdir = workdir
        self.tg = BenchTelegram()
        self.backend = BenchBackend()
        self.proc: psutil.Popen | None = None
        self.metrics_port: int | None = None

    async def __aenter__(self) -> Run:
        await self.tg.start()
        await self.backend.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        await self.backend.stop()
        await self.tg.stop()

    async def spawn(self) -> float:
        """Start the child; seconds from spawn to its first getUpdates."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NEMO_"))}
        env.update(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=self.tg.url,
            NEMO_API_URL=self.backend.url,
            DATABASE_URL=f"sqlite:///{self.workdir / 'bot.db'}",
            STILL_WORKING_SECONDS=str(self.args.still_working),
            MAX_BACKEND_CONNECTIONS=str(self.args.chats + 200),
            # A chat's 6 turns a minute protect a real bot; probes reuse 40 chats quickly.
            TURN_RATE_LIMIT="0",
            LOG_LEVEL="INFO",
        )
        if self.metrics_port is not None:
            env["HEALTH_PORT"] = str(self.metrics_port)
        if self.kind == "bot":
            cmd = [sys.executable, "-m", "bot"]
        else:
            env["NEMO_TOKEN"] = self.backend.issue_token(credits=10**9).token
            cmd = [sys.executable, str(HERE / "bare_relay.py")]
        log = (self.workdir / f"{self.kind}.log").open("ab")
        started = time.perf_counter()
        self.proc = psutil.Popen(
            cmd, env=env, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=log
        )
        log.close()
        while self.tg.first_poll is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited; see {self.workdir / self.kind}.log")
            await asyncio.sleep(0.002)
        return self.tg.first_poll - started

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # open turns may hold a graceful stop for long: not measured here
        try:
            await asyncio.to_thread(proc.wait, 3)
        except psutil.TimeoutExpired:
            proc.kill()
            await asyncio.to_thread(proc.wait)

    async def scrape(self) -> dict[str, float]:
        """The bot's /metrics as ``name|method|le`` → value."""
        assert self.metrics_port is not None
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")).text
        return {
            f"{s.name}|{s.labels.get('method', '')}|{s.labels.get('le', '')}": s.value
            for family in text_string_to_metric_families(text) for s in family.samples
        }

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        times = self.proc.cpu_times()
        return times.user + times.system

    async def turn(self, chat: int, text: str) -> tuple[float, float]:
        answer = self.tg.expect(f"chat:{chat}" if text.startswith("/") else text)
        sent = time.perf_counter()
        await self.tg.send_text(chat, text)
        return sent, await asyncio.wait_for(answer, 120)

    async def paced(self, count: int, rate: float, make: Any) -> list[Any]:
        """Start ``count`` coroutines at ``rate`` per second on a fixed schedule."""
        start = time.perf_counter()
        tasks = []
        for i in range(count):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(make(i)))
        return await asyncio.gather(*tasks)

    # -- phases --------------------------------------------------------------------------

    async def cpu_per_turn(self, n: int | None = None, tag: str = "") -> float:
        """CPU of the child per turn of 31 frames, the chats' first contact excluded."""
        chats = list(range(1, PROBE_CHATS + 1))
        if not tag:
            await asyncio.gather(*(self.turn(c, f"cpu warm {c}") for c in chats))
            await asyncio.sleep(0.5)
        n = n or self.args.cpu_turns
        before = self.cpu_seconds()
        await self.paced(n, RATE, lambda i: self.turn(chats[i % len(chats)], f"cpu {tag}{i}"))
        await asyncio.sleep(0.5)  # the job's bookkeeping after the answer
        return (self.cpu_seconds() - before) / n * 1000

    async def open_holds(self, chats: Iterable[int]) -> None:
        """Start a long turn in each chat at RATE/s; return when every stream is open."""
        chats = list(chats)

        async def one(i: int) -> None:
            await self.tg.send_text(HOLD_BASE + chats[i], f"hold {chats[i]}")

        await self.paced(len(chats), RATE, one)
        async with asyncio.timeout(600):
            while True:
                if all(f"hold {c}" in self.backend.started for c in chats):
                    return
                await asyncio.sleep(0.05)

    async def probes(self, seconds: float, tag: str, floor: list[float] | None) -> list[float]:
        """Relay overhead of short turns sent at RATE/s, and optionally the httpx floor."""
        chats = list(range(1, PROBE_CHATS + 1))
        count = max(1, int(seconds * PROBE_RATE))
        client = None
        if floor is not None:
            token = self.backend.issue_token(credits=10**9).token
            session = self.backend.create_session(token).session_id
            client = httpx.AsyncClient(
                base_url=self.backend.url, headers={"Authorization": f"Bearer {token}"}
            )

        async def one(i: int) -> float:
            text = f"probe {tag}-{i}"
            sent, answered = await self.turn(chats[i % len(chats)], text)
            if client is not None and floor is not None:
                floor.append(await self.floor(client, session, f"floor {tag}-{i}"))
            return (answered - sent) - (self.backend.ended[text] - self.backend.started[text])

        try:
            return list(await self.paced(count, PROBE_RATE, one))
        finally:
            if client is not None:
                await client.aclose()

    async def floor(self, client: httpx.AsyncClient, session: str, text: str) -> float:
        body = {"app_name": "nemo_agent", "user_id": "me", "session_id": session,
                "new_message": {"parts": [{"text": text}]}}
        sent = time.perf_counter()
        async with aconnect_sse(client, "POST", "/run_sse", json=body) as source:
            async for sse in source.aiter_sse():
                if sse.data:
                    json.loads(sse.data)
        took = time.perf_counter() - sent
        return took - (self.backend.ended[text] - self.backend.started[text])

    async def still_working(self, chats: Sequence[int]) -> tuple[list[float], list[float]]:
        """How late each "still working" message and edit came against its interval."""
        interval = self.args.still_working
        last_start = max(self.backend.started[f"hold {c}"] for c in chats)
        wait = last_start + 2 * interval + 3 - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        first: list[float] = []
        edits: list[float] = []
        for c in chats:
            events = self.tg.still.get(HOLD_BASE + c, [])
            if not events:
                first.append(float("inf"))
                continue
            first.append(events[0] - self.backend.started[f"hold {c}"] - interval)
            edits += [b - a - interval for a, b in itertools.pairwise(events)]
        return first, edits

    async def burst(self) -> list[float]:
        """Seconds from /start to the answer, for new chats arriving at RATE/s."""

        async def one(i: int) -> float:
            sent, answered = await self.turn(BURST_BASE + i, "/start")
            return answered - sent

        return list(await self.paced(self.args.chats, RATE, one))


async def main_run(kind: str, args: argparse.Namespace, figures: Figures,
                   floor: list[float] | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with Run(kind, args, Path(tmp)) as run:
            if kind == "bot":  # /metrics: its web server makes this start no measure
                run.metrics_port = free_port()
            await run.spawn()
            figures.cpu_ms = await run.cpu_per_turn()
            print(f"  {kind}: cpu per turn {figures.cpu_ms:.1f} ms", flush=True)
            scraped = await run.scrape() if kind == "bot" else {}
            small = min(100, args.chats)
            await run.open_holds(range(small))
            probing = await run.scrape() if kind == "bot" else {}
            figures.overhead[small] = await run.probes(args.probe_seconds, "s", floor)
            if kind == "bot":
                figures.held["sendMessage, during the probes"] = held_back(
                    probing, await run.scrape(), "sendMessage")
            await run.open_holds(range(small, args.chats))
            assert run.proc is not None
            rss = run.proc.memory_info().rss
            figures.overhead[args.chats] = await run.probes(args.probe_seconds, "l", None)
            figures.rss_mb = max(rss, run.proc.memory_info().rss) / 2**20
            print(f"  {kind}: overhead and RSS done ({figures.rss_mb:.0f} MB)", flush=True)
            if kind == "bot":
                figures.still_first, figures.still_edits = await run.still_working(
                    range(args.chats)
                )
                after = await run.scrape()
                for method in ("sendMessage", "editMessageText"):
                    figures.held[f"{method}, long turns' start to end"] = held_back(
                        scraped, after, method)


async def cpu_interleaved(args: argparse.Namespace, bare: Figures, bot: Figures) -> None:
    """CPU per turn of both, in alternating rounds with both processes up: the machine's load
    changes from minute to minute, so each round's ratio compares like with like."""
    with tempfile.TemporaryDirectory() as tmp:
        async with (Run("bare", args, Path(tmp) / "bare") as b,
                    Run("bot", args, Path(tmp) / "bot") as o):
            for run in (b, o):
                run.workdir.mkdir()
                await run.spawn()
                await run.cpu_per_turn(PROBE_CHATS, tag="warm-")  # first contact
            for r in range(args.cpu_rounds):
                for run, figures in ((b, bare), (o, bot)):
                    figures.cpu_rounds.append(await run.cpu_per_turn(tag=f"r{r}-"))
            print(f"  cpu per turn, rounds: bare {bare.cpu_rounds}, bot {bot.cpu_rounds}",
                  flush=True)


async def burst_run(kind: str, args: argparse.Namespace, figures: Figures) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with Run(kind, args, Path(tmp)) as run:
            figures.startup.append(await run.spawn())
            figures.burst = await run.burst()


async def startup_run(kind: str, args: argparse.Namespace, figures: Figures) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with Run(kind, args, Path(tmp)) as run:
            figures.startup.append(await run.spawn())


def ms(values: Sequence[float]) -> str:
    return f"{pct(values, 0.5) * 1000:.1f} / {pct(values, 0.99) * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def table(args: argparse.Namespace, bare: Figures, bot: Figures, floor: list[float]) -> str:
    n, small = args.chats, min(100, args.chats)
    rows = ["| figure | httpx floor | bare relay | this bot | bot / bare | goal |",
            "|---|---|---|---|---|---|"]
    ratio = statistics.median(o / b for o, b in zip(bot.cpu_rounds, bare.cpu_rounds,
                                                      strict=True))
    rows.append(f"| CPU per turn of 31 SSE frames, {len(bot.cpu_rounds)} interleaved rounds of "
                f"{args.cpu_turns} (median) | | {statistics.median(bare.cpu_rounds):.1f} ms "
                f"| {statistics.median(bot.cpu_rounds):.1f} ms | {ratio:.2f}× (median of "
                f"the rounds' ratios) | ≤ 1.5×: {verdict(ratio <= 1.5)} |")
    ratio = bot.cpu_ms / bare.cpu_ms
    rows.append(f"| CPU per turn, each alone before its other phases | | {bare.cpu_ms:.1f} ms "
                f"| {bot.cpu_ms:.1f} ms | {ratio:.2f}× | |")
    for chats in sorted({small, n}):
        b, o = bare.overhead[chats], bot.overhead[chats]
        ratio = pct(o, 0.99) / pct(b, 0.99)
        fl = ms(floor) if chats == small else ""
        rows.append(f"| relay overhead p50 / p99, {chats} chats with a turn open "
                    f"({len(o)} probes) | {fl} | {ms(b)} | {ms(o)} | {ratio:.2f}× (p99) "
                    f"| ≤ 2×: {verdict(ratio <= 2)} |")
    sb, so = statistics.median(bare.startup), statistics.median(bot.startup)
    rows.append(f"| start to first getUpdates (median of {len(bot.startup)}) | | {sb:.2f} s "
                f"| {so:.2f} s | {so / sb:.2f}× | ≤ 1.1×: {verdict(so / sb <= 1.1)} |")
    rows.append(f"| RSS with {n} chats each holding an open SSE turn | | {bare.rss_mb:.0f} MB "
                f"| {bot.rss_mb:.0f} MB | {bot.rss_mb / bare.rss_mb:.2f}× "
                f"| < 200 MB: {verdict(bot.rss_mb < 200)} |")
    late = max([*bot.still_edits, *bot.still_first], default=float("inf"))
    rows.append(f"| \"still working\" lateness, {n} long turns, every "
                f"{args.still_working:.0f} s: first message p99 / max, edits p99 / max "
                f"({len(bot.still_edits)} edits) | | — "
                f"| {pct(bot.still_first, 0.99):.2f} / {max(bot.still_first):.2f} s, "
                f"{pct(bot.still_edits, 0.99):.2f} / {late:.2f} s | "
                f"| ≤ 1 s: {verdict(late <= 1)} |")
    for method, held in bot.held.items():
        rows.append(f"| held back by the rate limiter (Telegram's 30/s): {method} "
                    f"| | — | {held} | | |")
    p99 = pct(bot.burst, 0.99)
    rows.append(f"| /start from {n} new chats at {RATE:.0f}/s: p50 / p99 | "
                f"| {pct(bare.burst, 0.5):.2f} / {pct(bare.burst, 0.99):.2f} s "
                f"| {pct(bot.burst, 0.5):.2f} / {p99:.2f} s | "
                f"| p99 < 2 s: {verdict(p99 < 2)} |")
    return "\n".join(rows)


def compiled(tree: Path) -> None:
    """Byte-compile the bot's package, as installing it (pip, the Docker image) does: with
    PYTHONDONTWRITEBYTECODE set and a source checkout, every start would compile ~60
    modules, which a deployed bot never does (the bare relay is one file)."""
    compileall.compile_dir(str(tree / "bot"), quiet=1)


async def amain(args: argparse.Namespace) -> None:
    compiled(HERE.parent)
    bare, bot = Figures(), Figures()
    floor: list[float] = []
    load_before = os.getloadavg()
    began = time.perf_counter()
    print("cpu per turn, interleaved", flush=True)
    await cpu_interleaved(args, bare, bot)
    print("bare relay: cpu, overhead, memory", flush=True)
    await main_run("bare", args, bare, floor)
    print("bot: cpu, overhead, memory, still working", flush=True)
    await main_run("bot", args, bot, None)
    print("/start bursts", flush=True)
    await burst_run("bare", args, bare)
    await burst_run("bot", args, bot)
    for _ in range(args.startups - 1):
        await startup_run("bare", args, bare)
        await startup_run("bot", args, bot)
    load_after = os.getloadavg()
    print()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after; {time.perf_counter() - began:.0f} s")
    print(table(args, bare, bot, floor))


def main() -> int:
    # A child killed with turns open leaves the fakes' reads cut short: expected, not news.
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=1000, help="chats with a long turn open")
    parser.add_argument("--still-working", type=float, default=60.0,
                        help="STILL_WORKING_SECONDS: with N chats keep N/interval under 30/s")
    parser.add_argument("--probe-seconds", type=float, default=12.0)
    parser.add_argument("--cpu-turns", type=int, default=200)
    parser.add_argument("--cpu-rounds", type=int, default=3,
                        help="interleaved rounds of --cpu-turns for the CPU ratio")
    parser.add_argument("--startups", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(amain(args))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
