"""``python -m bot check``: is this deployment ready for its first user?

One line per check (✓ or ✗ and why), exit 0 only when all pass. Short enough to run as a
container health check; never prints a traceback or a secret.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import __version__, logs
from bot.config import ConfigError, Settings, load_settings
from bot.tempfiles import TempFiles, UnsafeTempDir, secure_dir

if TYPE_CHECKING:
    from bot.store import ChatStore

TIMEOUT_SECONDS = 20


@dataclass(frozen=True, slots=True)
class Result:
    ok: bool
    name: str
    detail: str

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.name}: {self.detail}"


async def check_telegram(settings: Settings) -> Result:
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError

    api = settings.telegram_api_url
    name = "local Bot API server" if settings.telegram_local_mode else "Telegram"
    bot = Bot(settings.telegram_bot_token.get_secret_value(), base_url=f"{api}/bot",
              base_file_url=f"{api}/file/bot", local_mode=settings.telegram_local_mode)
    try:
        me = await bot.get_me()
    except InvalidToken:
        return Result(False, name, "TELEGRAM_BOT_TOKEN was rejected (copy it again from "
                                   "@BotFather)")
    except NetworkError as exc:
        return Result(False, name, f"cannot reach {api} ({exc.message})")
    except TelegramError as exc:
        return Result(False, name, f"{api} answered getMe with an error ({exc.message})")
    finally:
        await bot.shutdown()
    return Result(True, name, f"getMe answered: @{me.username} at {api}")


# One client id per host: repeated checks reuse it instead of creating backend users.
CHECK_CLIENT_ID = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"check.{socket.gethostname()}.rtk-bot"))


async def check_backend(settings: Settings) -> Result:
    from bot.backend import NemoClient
    from bot.backend.errors import BackendError, RateLimited

    url = settings.nemo_api_url
    client = NemoClient(url, version=__version__, platform=settings.skill_platform)
    try:
        if settings.nemo_token is not None:
            credits = await client.credits(settings.nemo_token.get_secret_value())
            return Result(True, "backend", f"{url} answered: NEMO_TOKEN has "
                                           f"{credits.available:g} credits")
        await client.anonymous_token(CHECK_CLIENT_ID)
        return Result(True, "backend", f"{url} answered: anonymous tokens are issued")
    except RateLimited:
        # Answered: this host already got its check token this week.
        return Result(True, "backend", f"{url} answered (anonymous token already issued)")
    except BackendError as exc:
        what = "NEMO_TOKEN was rejected" if exc.code == 1001 else exc.message
        return Result(False, "backend", f"{url}: {what}")
    finally:
        await client.aclose()


async def check_store(settings: Settings) -> Result:
    """Open (and so migrate) the database and read it, as the bot will on start."""
    opened = await (_open_postgres(settings) if settings.uses_postgres else _open_sqlite(settings))
    if isinstance(opened, Result):
        return opened
    store, where, described = opened
    try:
        version = await store.schema_version()
        pending = await store.count_unfinished()
    except Exception as exc:
        # A PostgreSQL error may quote the connection string: only its type is shown.
        reason = type(exc).__name__ if settings.uses_postgres else str(exc)
        return Result(False, "database", f"{where} is unreadable ({reason})")
    finally:
        await store.close()
    return Result(True, "database", f"{described}, schema version {version}, "
                                    f"{pending} unfinished jobs")


async def _open_sqlite(settings: Settings) -> Result | tuple[ChatStore, str, str]:
    """The SQLite file, or why it cannot be opened; its name, twice (as it reads in a line)."""
    from bot.store import SqliteStore

    path = settings.database_path
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        return Result(False, "database", f"cannot open {path} ({blocking} is not a directory)")
    try:
        store = await SqliteStore.open(path)
    except Exception as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return Result(False, "database", f"cannot open {path} ({reason})")
    return store, str(path), f"{path} open"


async def _open_postgres(settings: Settings) -> Result | tuple[ChatStore, str, str]:
    """The PostgreSQL database, or why it cannot be reached; named without its password."""
    from bot.store import StoreUnavailable, open_store
    from bot.store.open import redact_url

    where = redact_url(settings.database_url)
    try:
        store = await open_store(settings.database_url)
    except StoreUnavailable as exc:
        return Result(False, "database", str(exc))
    return store, where, f"PostgreSQL at {where}"


async def check_tempdir(settings: Settings) -> Result:
    """TEMP_DIR (or the system's), as the bot will use it: its own private directory there."""
    directory = settings.temp_base
    root = directory / TempFiles.ROOT_NAME
    try:
        secure_dir(root)
        with tempfile.NamedTemporaryFile(prefix="rtk-check-", dir=root) as handle:
            handle.write(b"x")
            handle.flush()
    except UnsafeTempDir as exc:
        return Result(False, "temp directory", str(exc))
    except OSError as exc:
        return Result(False, "temp directory", f"{directory} is not writable "
                                               f"({exc.strerror or exc})")
    return Result(True, "temp directory", f"{directory} is writable")


async def check_ffmpeg(settings: Settings) -> Result:
    """Which ffmpeg local compression would use, its version and its H.264/H.265 encoders."""
    from bot.compress import find_ffmpeg

    found = await asyncio.to_thread(find_ffmpeg, settings.ffmpeg_binary)
    if found is None:
        where = (f"FFMPEG_BINARY={settings.ffmpeg_binary} does not run" if settings.ffmpeg_binary
                 else "no ffmpeg on PATH and the [local] extra is not installed")
        if settings.local_compression == "always":
            return Result(False, "ffmpeg", f"{where} (LOCAL_COMPRESSION=always needs it)")
        return Result(True, "ffmpeg", f"{where}: local compression is off")
    encoders = ", ".join(f"{name} {'✓' if has else '✗'}" for name, has in
                         (("libx264", found.has_x264), ("libx265", found.has_x265)))
    ok = found.has_x264
    note = "" if ok else " (local compression needs libx264)"
    return Result(ok, "ffmpeg", f"{found.path}, version {found.version}, {encoders}{note}")


CHECKS: list[Callable[[Settings], Awaitable[Result]]] = [
    check_telegram, check_backend, check_store, check_tempdir, check_ffmpeg,
]


async def run_checks(settings: Settings) -> list[Result]:
    results = []
    for check in CHECKS:
        name = check.__name__.removeprefix("check_")
        if check is check_ffmpeg and settings.local_compression == "off":
            continue
        if check is check_backend and not settings.backend_enabled:
            # LOCAL_COMPRESSION=always: the bot never contacts the backend, nor does check.
            results.append(Result(True, "backend", "not used (LOCAL_COMPRESSION=always)"))
            continue
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                results.append(await check(settings))
        except TimeoutError:
            results.append(Result(False, name, f"no answer within {TIMEOUT_SECONDS} s"))
        except Exception as exc:
            results.append(Result(False, name, f"{type(exc).__name__}: {exc}"))
    return results


def main() -> int:
    # Libraries' own warnings would add lines (and maybe tracebacks) to a one-line-per-check
    # report; every failure is reported as a line below instead.
    logging.disable(logging.CRITICAL)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"✗ configuration: {exc}")
        return 2
    if settings.local_compression == "always":
        from bot.config import local_ffmpeg

        try:
            local_ffmpeg(settings)
        except ConfigError as exc:
            print(f"✗ configuration: {exc}")
            return 2
    mode = f"webhook at {settings.webhook_url}" if settings.webhook_url else "long polling"
    print(f"✓ configuration: valid ({mode})")
    results = asyncio.run(run_checks(settings))
    secrets = settings.secrets()
    for result in results:
        print(logs.redact(result.line(), secrets))
    sys.stdout.flush()
    return 0 if all(r.ok for r in results) else 1
