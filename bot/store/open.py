"""Pick the engine from ``DATABASE_URL``: ``sqlite:///…`` (default) or ``postgresql://…``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bot.store.interface import ChatStore
from bot.store.sqlite import SqliteStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StoreUnavailable(Exception):
    """The database cannot be reached or refused us; the message holds no password."""


class PollingTaken(StoreUnavailable):
    """Another process already long-polls with this database: Telegram hands each update
    to one poller, and replicas share work only in webhook mode."""


def is_postgres(url: str) -> bool:
    return url.startswith(POSTGRES_SCHEMES)


def url_password(url: str) -> str | None:
    """The password in a database URL, so logs can redact it."""
    return urlsplit(url).password if is_postgres(url) else None


def redact_url(url: str) -> str:
    """The URL as an operator may see it in a log line: no password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


async def open_store(url: str) -> ChatStore:
    """Open (and migrate) the store the URL names."""
    if is_postgres(url):
        # Imported here: a SQLite deployment never loads the PostgreSQL driver.
        import asyncpg

        from bot.store.postgres import PostgresStore

        try:
            return await PostgresStore.open(url)
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            reason = str(exc)
            password = url_password(url)
            if password:
                reason = reason.replace(password, "***")
            raise StoreUnavailable(
                f"cannot reach the database at {redact_url(url)} ({reason})"
            ) from None
    if not url.startswith("sqlite:///"):
        raise ValueError("DATABASE_URL must be sqlite:///… or postgresql://…")
    return await SqliteStore.open(Path(url[len("sqlite:///") :]))
