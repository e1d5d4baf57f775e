"""The durable queue of each chat's work: jobs, their progress, cancel and pruning."""


from __future__ import annotations

import time
from typing import Any

from bot.store.base import (
    JOB_COLUMNS,
    UNFINISHED,
    StoreBase,
    marks,
)
from bot.store.records import (
    Job,
)


class JobQueries(StoreBase):
    """Jobs."""

    # -- jobs ---------------------------------------------------------------------------------

    async def add_job(
        self, chat_id: int, thread_id: int, kind: str, payload: dict[str, Any],
        dedupe_key: str | None = None,
    ) -> int | None:
        """Queue work; ``None`` when ``dedupe_key`` was seen before (a repeated update)."""
        return await self._insert_id(
            "INSERT INTO jobs (chat_id, thread_id, kind, payload, dedupe_key, created_at,"
            " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (dedupe_key) DO NOTHING",
            chat_id, thread_id, kind, self._json(payload), dedupe_key, time.time(),
        )

    async def next_job(self, chat_id: int, thread_id: int) -> Job | None:
        row = await self._row(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE chat_id = $1 AND thread_id = $2"
            f" AND {UNFINISHED} ORDER BY id LIMIT 1",
            chat_id, thread_id,
        )
        return Job.from_row(row) if row else None

    async def take_album(
        self, chat_id: int, thread_id: int, media_group_id: str, first_id: int
    ) -> list[Job]:
        """Claim the album's other items for job ``first_id`` in one statement (no other
        worker can claim them too) and return all it holds, including ones claimed before a
        restart. Claimed items are not done: they finish with ``first_id``
        (:meth:`finish_job`), so a crash loses none."""
        await self._run(
            "UPDATE jobs SET state = 'claimed', batch_of = $4, updated_at = $1"
            " WHERE chat_id = $2 AND thread_id = $3 AND state = 'pending' AND kind = 'media'"
            f" AND id != $4 AND {self._media_group} = $5",
            time.time(), chat_id, thread_id, first_id, media_group_id,
        )
        rows = await self._rows(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE batch_of = $1 AND state = 'claimed'"
            " ORDER BY id",
            first_id,
        )
        return [Job.from_row(row) for row in rows]

    async def album_started(self, chat_id: int, thread_id: int, media_group_id: str) -> bool:
        """Whether an item of this album was queued here (by any replica or process)."""
        found = await self._value(
            "SELECT 1 FROM jobs WHERE chat_id = $1 AND thread_id = $2 AND kind = 'media'"
            f" AND {self._media_group} = $3 LIMIT 1",
            chat_id, thread_id, media_group_id,
        )
        return found is not None

    async def get_job(self, chat_id: int, thread_id: int, job_id: int) -> Job | None:
        """One of this chat's jobs (a 🔁 button names it), ``None`` if not this chat's."""
        row = await self._row(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND chat_id = $2 AND thread_id = $3",
            job_id, chat_id, thread_id,
        )
        return Job.from_row(row) if row else None

    async def waiting_jobs(self, chat_id: int, thread_id: int) -> list[Job]:
        """The chat's jobs not started yet, in the order they will run (its line)."""
        rows = await self._rows(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE chat_id = $1 AND thread_id = $2"
            " AND state = 'pending' ORDER BY id LIMIT 50",
            chat_id, thread_id,
        )
        return [Job.from_row(row) for row in rows]

    async def count_waiting(self, chat_id: int, thread_id: int) -> int:
        return int(await self._value(
            f"SELECT COUNT(*) FROM jobs WHERE chat_id = $1 AND thread_id = $2 AND {UNFINISHED}",
            chat_id, thread_id,
        ))

    async def set_job_state(self, job_id: int, state: str, *, expect: tuple[str, ...]) -> bool:
        """Move a job on only from one of the ``expect``ed states; ``False`` when it had
        moved elsewhere (a job cancelled meanwhile stays cancelled)."""
        changed = await self._run(
            "UPDATE jobs SET state = $1, updated_at = $2 WHERE id = $3"
            f" AND state IN ({marks(4, len(expect))})",
            state, time.time(), job_id, *expect,
        )
        return changed == 1

    async def start_job(self, job_id: int) -> bool:
        """pending → running; ``False`` when the job is no longer pending (cancelled)."""
        return await self.set_job_state(job_id, "running", expect=("pending",))

    async def cancel_jobs(self, chat_id: int, thread_id: int) -> int:
        """Cancel what runs and waits (album items too); returns how many requests ended."""
        now = time.time()
        where = "WHERE chat_id = $2 AND thread_id = $3"
        async with self._atomic() as run:
            count = await run(
                f"UPDATE jobs SET state = 'cancelled', updated_at = $1 {where} AND {UNFINISHED}",
                now, chat_id, thread_id,
            )
            await run(
                f"UPDATE jobs SET state = 'cancelled', updated_at = $1 {where}"
                " AND state = 'claimed'",
                now, chat_id, thread_id,
            )
        return count

    async def cancel_job(self, chat_id: int, thread_id: int, job_id: int) -> bool:
        """Cancel one unfinished job of this chat (a status's ❌ button); ``False`` when it
        had ended, or is not this chat's."""
        changed = await self._run(
            f"UPDATE jobs SET state = 'cancelled', updated_at = $1 WHERE id = $2"
            f" AND chat_id = $3 AND thread_id = $4 AND {UNFINISHED}",
            time.time(), job_id, chat_id, thread_id,
        )
        return changed == 1

    async def cancelled_among(self, job_ids: list[int]) -> set[int]:
        """Which of these jobs were cancelled (a /cancel another replica received shows
        here; the replica running the job checks)."""
        if not job_ids:
            return set()
        rows = await self._rows(
            f"SELECT id FROM jobs WHERE state = 'cancelled' AND id IN ({marks(1, len(job_ids))})",
            *job_ids,
        )
        return {int(row["id"]) for row in rows}

    async def chats_with_work(self) -> list[tuple[int, int]]:
        rows = await self._rows(f"SELECT DISTINCT chat_id, thread_id FROM jobs WHERE {UNFINISHED}")
        return [(int(row["chat_id"]), int(row["thread_id"])) for row in rows]

    async def count_unfinished(self) -> int:
        """Jobs waiting or running in all chats; raises when the database cannot be read
        (the health check relies on that)."""
        return int(await self._value(f"SELECT COUNT(*) FROM jobs WHERE {UNFINISHED}"))
