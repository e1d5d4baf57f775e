"""The chat store on PostgreSQL (asyncpg), for several replicas sharing one database.

asyncpg over psycopg 3: it is asyncio-native, has its own pool, and is the faster of the
two; the store needs nothing psycopg adds (no sync API, no ORM). Timestamps are epoch
seconds as in SQLite, so both engines return the same records.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, cast

import asyncpg

from bot.store.base import Run
from bot.store.claims import FENCE, Fence, LeaseLost
from bot.store.interface import ChatStore
from bot.store.pg_migrations import PG_MIGRATIONS
from bot.store.records import Row

# Advisory lock keys: constants no other code uses.
_MIGRATION_LOCK = 0x7274_6B00
_POLLING_LOCK = 0x7274_6B01
_IDENTITY_LOCKS = 0x7274_6B02  # the first half of a two-part key; the chat is the second

_NOW = "EXTRACT(EPOCH FROM clock_timestamp())::DOUBLE PRECISION"


async def _init_connection(con: asyncpg.Connection) -> None:
    """JSONB in and out as Python objects, like SQLite's JSON text."""
    await con.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


class PostgresStore(ChatStore):
    _media_group = "payload->>'media_group_id'"

    def __init__(self, pool: asyncpg.Pool, url: str, locks: asyncpg.Pool) -> None:
        self._pool = pool
        self._url = url
        # identity_lock's connections come from a pool of their own: a block holding one
        # reads and writes through the main pool, so sharing one pool would let as many
        # blocks as it has connections each hold one and wait for another, forever.
        self._locks = locks
        # Renewing this replica's leases must not queue behind its work for the main pool:
        # a renewal that waits longer than a lease lets other replicas take over its chats.
        self._leases: asyncpg.Pool | None = None
        self._polling: asyncpg.Connection | None = None

    @classmethod
    async def open(
        cls, url: str, *, max_connections: int = 20, lock_connections: int = 4
    ) -> PostgresStore:
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=max_connections, init=_init_connection
        )
        try:
            locks = await asyncpg.create_pool(url, min_size=0, max_size=lock_connections)
        except BaseException:
            await pool.close()
            raise
        store = cls(pool, url, locks)
        try:
            await store._migrate()
        except BaseException:
            await pool.close()
            await locks.close()
            raise
        return store

    async def close(self) -> None:
        if self._polling is not None:
            await self._polling.close()
            self._polling = None
        await self._pool.close()
        await self._locks.close()
        if self._leases is not None:
            await self._leases.close()
            self._leases = None

    async def hold_polling(self) -> bool:
        """A session advisory lock on a connection of its own: held while this process
        lives, released by the server the moment the process (or its connection) dies."""
        if self._polling is None:
            con = await asyncpg.connect(self._url)
            if not await con.fetchval("SELECT pg_try_advisory_lock($1)", _POLLING_LOCK):
                await con.close()
                return False
            self._polling = con
        return True

    async def _migrate(self) -> None:
        async with self._pool.acquire() as con, con.transaction():
            await con.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            current = await con.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            for number, script in enumerate(PG_MIGRATIONS, start=1):
                if number <= current:
                    continue
                await con.execute(script)
                await con.execute("INSERT INTO schema_version VALUES ($1)", number)

    # -- how asyncpg runs a statement -----------------------------------------------------------

    async def _rows(self, sql: str, *args: Any) -> list[Row]:
        return cast(list[Row], await self._pool.fetch(sql, *args))

    async def _row(self, sql: str, *args: Any) -> Row | None:
        return cast(Row | None, await self._pool.fetchrow(sql, *args))

    async def _value(self, sql: str, *args: Any) -> Any:
        return await self._pool.fetchval(sql, *args)

    async def _run(self, sql: str, *args: Any) -> int:
        return _rowcount(await self._pool.execute(sql, *args))

    async def _run_many(self, sql: str, args: list[tuple[Any, ...]]) -> None:
        await self._pool.executemany(sql, args)

    async def _insert_id(self, sql: str, *args: Any) -> int | None:
        value = await self._pool.fetchval(sql + " RETURNING id", *args)
        return None if value is None else int(value)

    @contextlib.asynccontextmanager
    async def _atomic(self) -> AsyncIterator[Run]:
        async with self._pool.acquire() as con, con.transaction():

            async def run(sql: str, *args: Any) -> int:
                return _rowcount(await con.execute(sql, *args))

            yield run

    def _json(self, value: dict[str, Any]) -> Any:
        return value  # the connection's JSONB codec encodes it

    @contextlib.asynccontextmanager
    async def identity_lock(self, chat_id: int) -> AsyncIterator[None]:
        """A per-chat advisory lock in a transaction held for the block. Not the row's
        own lock (FOR UPDATE): the block saves the token through another pooled connection,
        which that lock would make wait for the block itself."""
        async with self._locks.acquire() as con, con.transaction():
            await con.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", _IDENTITY_LOCKS, str(chat_id)
            )
            yield

    # -- replicas: who works a chat now -------------------------------------------------------
    # The database's clock, not the replicas': their clocks may disagree.

    @property
    def shared(self) -> bool:
        return True

    async def claim(self, chat_id: int, thread_id: int, owner: str, ttl: float) -> Fence | None:
        epoch = await self._pool.fetchval(
            "INSERT INTO chat_leases (chat_id, thread_id, owner, expires_at, epoch)"
            f" VALUES ($1, $2, $3, {_NOW} + $4, nextval('chat_lease_epochs'))"
            " ON CONFLICT (chat_id, thread_id) DO UPDATE"
            " SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at, epoch = EXCLUDED.epoch"
            f" WHERE chat_leases.owner = EXCLUDED.owner OR chat_leases.expires_at < {_NOW}"
            " RETURNING epoch",
            chat_id,
            thread_id,
            owner,
            ttl,
        )
        return None if epoch is None else Fence(chat_id, thread_id, owner, int(epoch))

    def _fence_sql(self, first: int) -> str:
        """The lease row of a fence (parameters ``$first`` …), if it is still that claim's."""
        return (
            f"SELECT 1 FROM chat_leases WHERE chat_id = ${first} AND thread_id = ${first + 1}"
            f" AND owner = ${first + 2} AND epoch = ${first + 3} AND expires_at > {_NOW}"
        )

    async def holds(self, fence: Fence) -> bool:
        found = await self._pool.fetchval(
            self._fence_sql(1), fence.chat_id, fence.thread_id, fence.owner, fence.epoch
        )
        return found is not None

    async def _run_fenced(self, fence: Fence, sql: str, *args: Any) -> int:
        # One statement: the lease row is read FOR SHARE, so a take-over (which updates it)
        # waits for this write, or this write sees the take-over and changes nothing.
        cte = f"WITH fence AS ({self._fence_sql(len(args) + 1)} FOR SHARE) "
        changed = _rowcount(await self._pool.execute(
            cte + sql.replace(FENCE, "EXISTS (SELECT 1 FROM fence)"),
            *args, fence.chat_id, fence.thread_id, fence.owner, fence.epoch,
        ))
        if changed == 0 and not await self.holds(fence):
            raise LeaseLost(f"chat {fence.chat_id}: claim {fence.epoch} of {fence.owner} is gone")
        return changed

    async def renew_claims(self, owner: str, ttl: float) -> set[tuple[int, int]]:
        if self._leases is None:
            self._leases = await asyncpg.create_pool(self._url, min_size=1, max_size=1)
        rows = await self._leases.fetch(
            f"UPDATE chat_leases SET expires_at = {_NOW} + $2 WHERE owner = $1"
            " RETURNING chat_id, thread_id",
            owner,
            ttl,
        )
        return {(int(r["chat_id"]), int(r["thread_id"])) for r in rows}

    async def release_chat(
        self, chat_id: int, thread_id: int, owner: str, fence: Fence | None = None
    ) -> None:
        if fence is not None:  # only this claim: a later one of the same owner stays
            await self._pool.execute(
                "DELETE FROM chat_leases WHERE chat_id = $1 AND thread_id = $2 AND owner = $3"
                " AND epoch = $4",
                chat_id, thread_id, owner, fence.epoch,
            )
            return
        await self._pool.execute(
            "DELETE FROM chat_leases WHERE chat_id = $1 AND thread_id = $2 AND owner = $3",
            chat_id,
            thread_id,
            owner,
        )

    async def unclaimed_work(self) -> list[tuple[int, int]]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT j.chat_id, j.thread_id FROM jobs j LEFT JOIN chat_leases l"
            " ON l.chat_id = j.chat_id AND l.thread_id = j.thread_id"
            " WHERE j.state IN ('pending', 'running')"
            f" AND (l.owner IS NULL OR l.expires_at < {_NOW})"
        )
        return [(int(r["chat_id"]), int(r["thread_id"])) for r in rows]


def _rowcount(status: str) -> int:
    """asyncpg returns the command tag ("UPDATE 3"); its last word is the row count."""
    return int(status.rsplit(" ", 1)[-1])
