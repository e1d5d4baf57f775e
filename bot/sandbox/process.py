"""`python -m bot` as its own OS process, pointed at fakes running in the caller's process.

Why: a restart is only real when the process dies. SIGTERM runs the bot's own shutdown,
SIGKILL runs nothing; both must leave a database the next process resumes without losing or
repeating work. The soak (bench/soak.py) drives this; the fakes keep their state throughout.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent.parent


class BotProcess:
    """One bot, started and stopped as often as needed on the same database and log file.

    ``settings`` are environment variables (``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_API_URL``,
    ``NEMO_API_URL``, ...); ``DATABASE_URL`` defaults to ``<workdir>/bot.db``. Everything the
    process prints goes to :attr:`log_path`, appended across starts.
    """

    def __init__(self, workdir: Path, settings: dict[str, str]) -> None:
        self.workdir = workdir
        self.log_path = workdir / "bot.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NEMO_"))}
        env.pop("DATABASE_URL", None)
        env["DATABASE_URL"] = f"sqlite:///{(workdir / 'bot.db').resolve()}"
        env.update(settings)
        env["PYTHONPATH"] = str(ROOT)
        env["PYTHONUNBUFFERED"] = "1"
        self._env = env
        self._proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0
        self.exit_codes: list[int] = []

    @property
    def pid(self) -> int:
        assert self._proc is not None, "the bot is not running"
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        """Start a new process (the previous one must have exited)."""
        assert not self.running, "the bot is already running"
        self._log = self.log_path.open("ab")
        self._log.write(f"=== start {self.starts + 1} ===\n".encode())
        self._log.flush()
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=self.workdir, env=self._env,
            stdout=self._log, stderr=asyncio.subprocess.STDOUT,
        )
        self.starts += 1

    async def wait_ready(self, timeout: float = 60) -> None:
        """Until the bot logs that it is ready (after resuming its chats)."""
        marker = f"=== start {self.starts} ===".encode()
        async with asyncio.timeout(timeout):
            while True:
                text = self.log_path.read_bytes()
                if b" ready (" in text[text.rfind(marker):]:
                    return
                if not self.running:
                    raise RuntimeError(f"the bot exited while starting; see {self.log_path}")
                await asyncio.sleep(0.1)

    async def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` and wait for the exit; SIGKILL after ``timeout``. Returns the code."""
        proc = self._proc
        assert proc is not None
        if proc.returncode is None:
            proc.send_signal(sig)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        code = proc.returncode
        assert code is not None
        self.exit_codes.append(code)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._proc = None
        return code

    async def restart(self, sig: signal.Signals) -> int:
        """Stop with ``sig``, start again; returns the stopped process's exit code."""
        code = await self.stop(sig)
        await self.start()
        return code

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
