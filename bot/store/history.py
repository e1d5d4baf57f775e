"""A project's original video and the exports delivered from it (before → after, /history)."""


from __future__ import annotations

import time

from bot.store.base import (
    EXPORT_COLUMNS,
    StoreBase,
)
from bot.store.records import (
    ExportRecord,
    Source,
    SourceFile,
    VideoInfo,
)


class HistoryQueries(StoreBase):
    """Originals and exports."""

    # -- before → after, /history -------------------------------------------------------------

    async def save_source(
        self, chat_id: int, thread_id: int, user_id: int | None, name: str | None,
        video: VideoInfo, *, file: SourceFile | None = None,
    ) -> None:
        """The project's original video (replaces the previous one), and how to fetch it again."""
        await self._run(
            "INSERT INTO sources (chat_id, thread_id, user_id, name, size, width, height,"
            " duration, created_at, file_id, file_name, mime_type, kind)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            " ON CONFLICT (chat_id, thread_id) DO UPDATE SET user_id = $3, name = $4,"
            " size = $5, width = $6, height = $7, duration = $8, created_at = $9,"
            " file_id = $10, file_name = $11, mime_type = $12, kind = $13",
            chat_id, thread_id, user_id, name, video.size, video.width, video.height,
            video.duration, time.time(), file.file_id if file else None,
            file.file_name if file else None, file.mime_type if file else None,
            file.kind if file else None,
        )

    async def get_source(self, chat_id: int, thread_id: int) -> Source | None:
        row = await self._row(
            "SELECT user_id, name, size, width, height, duration, file_id, file_name, mime_type,"
            " kind FROM sources WHERE chat_id = $1 AND thread_id = $2",
            chat_id, thread_id,
        )
        if not row:
            return None
        file = (SourceFile(row["file_id"], row["file_name"], row["mime_type"],
                           row["kind"] or "video") if row["file_id"] else None)
        return Source(row["user_id"], row["name"], VideoInfo.from_row(row), file)

    async def forget_source(self, chat_id: int, thread_id: int) -> None:
        """No original any more (a fresh start): its buttons and requests have nothing to use."""
        await self._run("DELETE FROM sources WHERE chat_id = $1 AND thread_id = $2",
                        chat_id, thread_id)

    async def add_export(
        self, chat_id: int, thread_id: int, file_id: str, as_document: bool, video: VideoInfo
    ) -> int:
        export_id = await self._insert_id(
            "INSERT INTO exports (chat_id, thread_id, file_id, as_document, size, width, height,"
            " duration, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            chat_id, thread_id, file_id, as_document, video.size, video.width, video.height,
            video.duration, time.time(),
        )
        assert export_id is not None
        return export_id

    async def exports(self, chat_id: int, thread_id: int, limit: int = 5) -> list[ExportRecord]:
        """The latest deliveries, newest first."""
        rows = await self._rows(
            f"SELECT {EXPORT_COLUMNS} FROM exports WHERE chat_id = $1 AND thread_id = $2"
            " ORDER BY id DESC LIMIT $3",
            chat_id, thread_id, limit,
        )
        return [ExportRecord.from_row(row) for row in rows]

    async def get_export(self, chat_id: int, export_id: int) -> ExportRecord | None:
        row = await self._row(
            f"SELECT {EXPORT_COLUMNS} FROM exports WHERE chat_id = $1 AND id = $2",
            chat_id, export_id,
        )
        return ExportRecord.from_row(row) if row else None
