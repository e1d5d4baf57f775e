"""A throwaway PostgreSQL server for the tests, the benchmarks and the replica demo.

It runs the distribution's own binaries (Debian's ``postgresql`` package installs them
under /usr/lib/postgresql/<version>/bin) on a temporary data directory, a free port on
127.0.0.1 and trust authentication, with durability off: it is thrown away afterwards.
initdb and postgres refuse to run as root, so as root (CI) they run as the ``postgres``
system user, on a directory it owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")


def find_bin() -> Path | None:
    """The directory holding initdb and postgres (newest version first), or None."""
    explicit = os.environ.get("PG_BIN")
    candidates = [Path(explicit)] if explicit else []
    if PG_ROOT.is_dir():
        versions = sorted(
            (p for p in PG_ROOT.iterdir() if p.name.split(".")[0].isdigit()),
            key=lambda p: int(p.name.split(".")[0]),
            reverse=True,
        )
        candidates += [v / "bin" for v in versions]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """``start()`` → ``url()`` / ``create_database()`` → ``stop()``."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        found = bin_dir or find_bin()
        if found is None:
            raise RuntimeError("PostgreSQL binaries not found (apt-get install postgresql)")
        self.bin = found
        self.port = 0
        self.workdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._user: str | None = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str) -> None:
        subprocess.run(
            args,
            check=True,
            capture_output=True,
            user=self._user,
            env={**os.environ, "LC_ALL": "C"},
        )

    def start(self, timeout: float = 30.0) -> None:
        # Under /tmp (not pytest's 0700 tmp_path) so the postgres user can reach it.
        self.workdir = Path(tempfile.mkdtemp(prefix="rtk-pg-"))
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.workdir, entry.pw_uid, entry.pw_gid)
        data = self.workdir / "data"
        self._run(
            str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        self.port = _free_port()
        log = (self.workdir / "server.log").open("wb")
        self._proc = subprocess.Popen(
            [
                str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port),
                "-k", str(self.workdir), "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off", "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off", "-c", "max_connections=300",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self._user,
            env={**os.environ, "LC_ALL": "C"},
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return
            if self._proc.poll() is not None or time.monotonic() > deadline:
                output = (self.workdir / "server.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"PostgreSQL did not start:\n{output}")
            time.sleep(0.1)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A fresh, empty database; returns its URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        subprocess.run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
             "-U", "postgres", name],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return self.url(name)

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGINT)  # "fast" shutdown
                try:
                    self._proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self.workdir is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.workdir)
            self.workdir = None
