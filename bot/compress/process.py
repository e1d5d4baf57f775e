"""Running one ffmpeg process: its own process group, niced, bounded output, killed on cancel.

Why a process group: ffmpeg is the only process today, but ``nice`` (argv prefix) and any helper a
build might spawn share it, so a cancel or a timeout signals the whole group and nothing lingers
holding a CPU or a half-written file.

Why ``nice -n`` as an argv prefix rather than ``preexec_fn=os.nice``: ``preexec_fn`` is unsafe in
a process with threads (the bot has some) and Python documents it as such; ``nice`` execs ffmpeg
in place (same pid, same group), so every thread ffmpeg starts inherits the priority. Where no
``nice`` binary exists the child is reniced right after the spawn with ``os.setpriority`` (before
ffmpeg has parsed its arguments, so before its encoder threads exist).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

TERM_GRACE = 2.0
STDERR_TAIL = 4096

ProgressBlock = dict[str, str]
OnBlock = Callable[[ProgressBlock], Awaitable[None]]


class Timeout(Exception):
    """The process ran longer than its budget and was killed."""


class SpawnFailed(Exception):
    """The binary could not be started (gone, not executable, out of processes)."""


@dataclass(frozen=True)
class Finished:
    """How a process ended; ``stderr`` is the last bytes only (for logs, never for users)."""

    returncode: int
    stderr: str


def _nice_prefix(niceness: int) -> list[str]:
    if niceness <= 0:
        return []
    nice = shutil.which("nice")
    return [nice, "-n", str(niceness)] if nice else []


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the group, SIGKILL it after TERM_GRACE, and reap the child."""
    pgid = proc.pid  # start_new_session: the child leads its own group
    _signal_group(pgid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), TERM_GRACE)
    except TimeoutError:
        pass
    finally:
        # SIGKILL even after a clean exit: anything left in the group must not outlive us, and a
        # second cancel arriving while we wait must not leave the encoder running.
        _signal_group(pgid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        await proc.wait()


async def _tail(stream: asyncio.StreamReader, limit: int, into: bytearray) -> None:
    while chunk := await stream.read(65536):
        into += chunk
        if len(into) > limit:
            del into[: len(into) - limit]


async def _blocks(stream: asyncio.StreamReader, on_block: OnBlock | None) -> None:
    """``-progress`` output: key=value lines, a block ending with ``progress=continue|end``."""
    block: ProgressBlock = {}
    while line := await stream.readline():
        key, sep, value = line.decode("utf-8", "replace").strip().partition("=")
        if not sep:
            continue
        block[key] = value
        if key == "progress":
            if on_block is not None:
                await on_block(block)
            block = {}


async def run(
    argv: list[str],
    *,
    timeout: float,
    niceness: int = 0,
    on_block: OnBlock | None = None,
    stderr_limit: int = STDERR_TAIL,
) -> Finished:
    """Run ``argv`` (an argument list, never a shell); stdout is read as ``-progress`` blocks.

    On timeout the group is killed and :class:`Timeout` raised; on cancel it is killed, reaped,
    and the CancelledError goes on. The caller deletes its own partial output.
    """
    prefix = _nice_prefix(niceness)
    try:
        proc = await asyncio.create_subprocess_exec(
            *prefix, *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        log.warning("could not start %s: %s", argv[0], exc)
        raise SpawnFailed(str(exc)) from None
    if niceness > 0 and not prefix:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, proc.pid, os.getpriority(os.PRIO_PROCESS, 0) + niceness)
    assert proc.stdout is not None and proc.stderr is not None
    err = bytearray()
    readers = asyncio.gather(_blocks(proc.stdout, on_block), _tail(proc.stderr, stderr_limit, err))
    try:
        async with asyncio.timeout(timeout):
            await readers
            returncode = await proc.wait()
    except TimeoutError:
        readers.cancel()
        await _stop(proc)
        tail = err[-500:].decode("utf-8", "replace")
        log.warning("ffmpeg killed after %.0f s: %s", timeout, tail)
        raise Timeout(f"ffmpeg ran longer than {timeout:.0f} s") from None
    except BaseException:
        readers.cancel()
        await _stop(proc)
        raise
    return Finished(returncode, err.decode("utf-8", "replace"))
