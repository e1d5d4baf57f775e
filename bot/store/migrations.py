"""Numbered schema migrations; each runs once, in order, recorded in ``schema_version``."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: chats (one backend identity per Telegram chat), topics (one backend session per chat
    # or forum topic, thread 0 = the chat itself), jobs (a chat's durable work queue).
    """
    CREATE TABLE chats (
        chat_id          INTEGER PRIMARY KEY,
        client_id        TEXT NOT NULL,
        token            TEXT,
        token_expires_at REAL,
        anon_user_id     TEXT,
        language         TEXT,
        created_at       REAL NOT NULL,
        updated_at       REAL NOT NULL
    );
    CREATE TABLE topics (
        chat_id          INTEGER NOT NULL,
        thread_id        INTEGER NOT NULL DEFAULT 0,
        session_id       TEXT,
        session_language TEXT,
        render_id        TEXT,
        render_message_id INTEGER,
        render_started_at REAL,
        created_at       REAL NOT NULL,
        updated_at       REAL NOT NULL,
        PRIMARY KEY (chat_id, thread_id)
    );
    CREATE TABLE jobs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        chat_id     INTEGER NOT NULL,
        thread_id   INTEGER NOT NULL DEFAULT 0,
        kind        TEXT NOT NULL,
        payload     TEXT NOT NULL,
        dedupe_key  TEXT UNIQUE,
        state       TEXT NOT NULL DEFAULT 'pending',
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE INDEX jobs_by_chat ON jobs (chat_id, thread_id, state, id);
    """,
    # 2: the draft fingerprint seen after the last turn, to tell whether a turn changed it.
    "ALTER TABLE topics ADD COLUMN draft_hash TEXT",
    # 3: whether the chat was told once that a video sent as a file keeps its quality.
    "ALTER TABLE chats ADD COLUMN quality_hint_at REAL",
    # 4: a job's progress, so a restart neither repeats nor loses a step: the upload's result
    # once it completed (no second upload), whether its instruction reached the agent (never
    # re-sent), and the job an album item was claimed by (finished together with it).
    """
    ALTER TABLE jobs ADD COLUMN uploaded TEXT;
    ALTER TABLE jobs ADD COLUMN turn_sent INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN batch_of INTEGER
    """,
    # 5: the original video of each chat's project (before → after, presets) and the videos
    # delivered (/history sends one again by its Telegram file_id, without a new render).
    """
    CREATE TABLE sources (
        chat_id     INTEGER NOT NULL,
        thread_id   INTEGER NOT NULL DEFAULT 0,
        user_id     INTEGER,
        name        TEXT,
        size        INTEGER,
        width       INTEGER,
        height      INTEGER,
        duration    REAL,
        created_at  REAL NOT NULL,
        PRIMARY KEY (chat_id, thread_id)
    );
    CREATE TABLE exports (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        chat_id     INTEGER NOT NULL,
        thread_id   INTEGER NOT NULL DEFAULT 0,
        file_id     TEXT NOT NULL,
        as_document INTEGER NOT NULL DEFAULT 0,
        size        INTEGER,
        width       INTEGER,
        height      INTEGER,
        duration    REAL,
        created_at  REAL NOT NULL
    );
    CREATE INDEX exports_by_chat ON exports (chat_id, thread_id, id);
    """,
    # 6: the inbox: each polled update as received, kept from before Telegram considers it
    # delivered until it has been handled ('new' -> 'handling' -> 'done').
    """
    CREATE TABLE inbox (
        update_id   INTEGER PRIMARY KEY,
        body        TEXT NOT NULL,
        state       TEXT NOT NULL DEFAULT 'new',
        updated_at  REAL NOT NULL
    );
    CREATE INDEX inbox_by_state ON inbox (state, update_id);
    """,
    # 7: each message a job (or an update's handler) sends, recorded just before it goes to
    # Telegram (sent = 0) and once Telegram confirmed it (sent = 1, with its message id), so a
    # restart never sends it again, and knows when it cannot tell whether it arrived.
    """
    CREATE TABLE sends (
        owner       TEXT NOT NULL,
        step        TEXT NOT NULL,
        sent        INTEGER NOT NULL DEFAULT 0,
        message_id  INTEGER,
        updated_at  REAL NOT NULL,
        PRIMARY KEY (owner, step)
    );
    """,
    # 8: what fetches a project's original video from Telegram again (its file_id, name, MIME
    # type and kind), so local compression can download it, after a restart too.
    """
    ALTER TABLE sources ADD COLUMN file_id TEXT;
    ALTER TABLE sources ADD COLUMN file_name TEXT;
    ALTER TABLE sources ADD COLUMN mime_type TEXT;
    ALTER TABLE sources ADD COLUMN kind TEXT;
    """,
    # 9: the chat's line notice ("⏳ Queued — #1 …"), so a restart still moves it on.
    """
    ALTER TABLE topics ADD COLUMN line_message_id INTEGER;
    """,
    # 10: /settings, one row per chat or forum topic (thread 0 = the chat itself): the
    # default preset each new video is compressed to, and the local engine's codec and
    # resolution cap. The language stays in chats.language (/language set it first).
    """
    CREATE TABLE chat_settings (
        chat_id        INTEGER NOT NULL,
        thread_id      INTEGER NOT NULL DEFAULT 0,
        preset         TEXT,
        codec          TEXT NOT NULL DEFAULT 'h264',
        max_short_side INTEGER,
        updated_at     REAL NOT NULL,
        PRIMARY KEY (chat_id, thread_id)
    );
    """,
]
