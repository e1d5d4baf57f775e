"""Which exceptions mean "the database failed" (locked, full, gone for a moment), on either
engine: callers that can wait and try again (taking an update in) tell them from bugs.
Narrow on purpose: an error taken for the store's is retried without telling anyone, so a
timeout or an OS error of something else must not look like one."""

from __future__ import annotations

import sqlite3
import sys


def store_failed(exc: BaseException) -> bool:
    """The database (not the code) failed: SQLite's errors ("database is locked", "disk I/O
    error", "database or disk is full"), or PostgreSQL's and its lost connections."""
    if isinstance(exc, sqlite3.OperationalError):  # not a constraint or a bad statement
        return True
    asyncpg = sys.modules.get("asyncpg")  # imported only when PostgreSQL is in use
    if asyncpg is None:
        return False
    e = asyncpg.exceptions
    return isinstance(exc, (
        e.PostgresConnectionError, e.InterfaceError, e.InsufficientResourcesError,
        e.OperatorInterventionError, e.LockNotAvailableError, e.DeadlockDetectedError,
        e.SerializationError, ConnectionError,
    ))
