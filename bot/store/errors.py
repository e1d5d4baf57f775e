"""Which exceptions mean "the database failed" (locked, full, gone for a moment), on either
engine: callers that can wait and try again (taking an update in) tell them from bugs."""

from __future__ import annotations

import sqlite3
import sys


def store_failed(exc: BaseException) -> bool:
    """The database (not the code) failed: SQLite's errors ("database is locked", "disk I/O
    error", "database or disk is full"), or PostgreSQL's and its lost connections."""
    if isinstance(exc, sqlite3.Error | OSError | TimeoutError):
        return True
    asyncpg = sys.modules.get("asyncpg")  # imported only when PostgreSQL is in use
    return asyncpg is not None and isinstance(
        exc, asyncpg.PostgresError | asyncpg.InterfaceError
    )
