"""PostgreSQL's own numbered migrations (its numbering is independent of SQLite's).

Each runs once, in order, in one transaction with its ``schema_version`` row, under an
advisory lock so replicas starting together migrate once.
"""

from __future__ import annotations

PG_MIGRATIONS: list[str] = [
    # 1: chats, topics (one session per chat or forum topic, thread 0 = the chat), jobs.
    # SQLite's migrations 1 and 2 in one step.
    """
    CREATE TABLE chats (
        chat_id           BIGINT PRIMARY KEY,
        client_id         TEXT NOT NULL,
        token             TEXT,
        token_expires_at  DOUBLE PRECISION,
        anon_user_id      TEXT,
        language          TEXT,
        created_at        DOUBLE PRECISION NOT NULL,
        updated_at        DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE topics (
        chat_id           BIGINT NOT NULL,
        thread_id         BIGINT NOT NULL DEFAULT 0,
        session_id        TEXT,
        session_language  TEXT,
        render_id         TEXT,
        render_message_id BIGINT,
        render_started_at DOUBLE PRECISION,
        draft_hash        TEXT,
        created_at        DOUBLE PRECISION NOT NULL,
        updated_at        DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (chat_id, thread_id)
    );
    CREATE TABLE jobs (
        id          BIGSERIAL PRIMARY KEY,
        chat_id     BIGINT NOT NULL,
        thread_id   BIGINT NOT NULL DEFAULT 0,
        kind        TEXT NOT NULL,
        payload     JSONB NOT NULL,
        dedupe_key  TEXT UNIQUE,
        state       TEXT NOT NULL DEFAULT 'pending',
        created_at  DOUBLE PRECISION NOT NULL,
        updated_at  DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX jobs_by_chat ON jobs (chat_id, thread_id, state, id);
    CREATE INDEX jobs_unfinished ON jobs (state) WHERE state IN ('pending', 'running');
    """,
    # 2: when the chat was told that a video sent as a file keeps its quality (once per chat).
    "ALTER TABLE chats ADD COLUMN quality_hint_at DOUBLE PRECISION",
    # 3: a job's progress (SQLite's 4): the upload's result once it completed, whether its
    # instruction reached the agent, and the job an album item was claimed by.
    """
    ALTER TABLE jobs ADD COLUMN uploaded JSONB;
    ALTER TABLE jobs ADD COLUMN turn_sent BOOLEAN NOT NULL DEFAULT FALSE;
    ALTER TABLE jobs ADD COLUMN batch_of BIGINT
    """,
    # 4: which replica works a chat now. A lease, renewed while the replica lives; once it
    # expires (the replica died) another replica claims the chat and resumes its jobs.
    """
    CREATE TABLE chat_leases (
        chat_id     BIGINT NOT NULL,
        thread_id   BIGINT NOT NULL,
        owner       TEXT NOT NULL,
        expires_at  DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (chat_id, thread_id)
    );
    CREATE INDEX chat_leases_by_owner ON chat_leases (owner);
    """,
    # 5: the original video of each chat's project (before → after, presets) and the videos
    # delivered (/history sends one again by its Telegram file_id). SQLite's 5.
    """
    CREATE TABLE sources (
        chat_id     BIGINT NOT NULL,
        thread_id   BIGINT NOT NULL DEFAULT 0,
        user_id     BIGINT,
        name        TEXT,
        size        BIGINT,
        width       INTEGER,
        height      INTEGER,
        duration    DOUBLE PRECISION,
        created_at  DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (chat_id, thread_id)
    );
    CREATE TABLE exports (
        id          BIGSERIAL PRIMARY KEY,
        chat_id     BIGINT NOT NULL,
        thread_id   BIGINT NOT NULL DEFAULT 0,
        file_id     TEXT NOT NULL,
        as_document BOOLEAN NOT NULL DEFAULT FALSE,
        size        BIGINT,
        width       INTEGER,
        height      INTEGER,
        duration    DOUBLE PRECISION,
        created_at  DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX exports_by_chat ON exports (chat_id, thread_id, id);
    """,
    # 6: the inbox of polled updates (SQLite's migration 6).
    """
    CREATE TABLE inbox (
        update_id   BIGINT PRIMARY KEY,
        body        TEXT NOT NULL,
        state       TEXT NOT NULL DEFAULT 'new',
        updated_at  DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX inbox_by_state ON inbox (state, update_id);
    """,
    # 7: the messages jobs send, before and after Telegram confirmed them (SQLite's 7).
    """
    CREATE TABLE sends (
        owner       TEXT NOT NULL,
        step        TEXT NOT NULL,
        sent        BOOLEAN NOT NULL DEFAULT FALSE,
        message_id  BIGINT,
        updated_at  DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (owner, step)
    );
    """,
    # 8: what fetches the original again (SQLite's 8).
    """
    ALTER TABLE sources ADD COLUMN file_id TEXT;
    ALTER TABLE sources ADD COLUMN file_name TEXT;
    ALTER TABLE sources ADD COLUMN mime_type TEXT;
    ALTER TABLE sources ADD COLUMN kind TEXT;
    """,
    # 9: the chat's line notice (SQLite's 9).
    """
    ALTER TABLE topics ADD COLUMN line_message_id BIGINT;
    """,
    # 10: /settings per chat or forum topic (SQLite's 10).
    """
    CREATE TABLE chat_settings (
        chat_id        BIGINT NOT NULL,
        thread_id      BIGINT NOT NULL DEFAULT 0,
        preset         TEXT,
        codec          TEXT NOT NULL DEFAULT 'h264',
        max_short_side INTEGER,
        updated_at     DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (chat_id, thread_id)
    );
    """,
    # 11: fencing tokens (issue 23 item 2): each claim of a chat gets a new epoch, never
    # reused (a sequence, so a lease deleted and claimed again does not start over); a
    # renewal keeps it. The irreversible steps check it (bot/store/claims.py).
    """
    CREATE SEQUENCE chat_lease_epochs;
    ALTER TABLE chat_leases ADD COLUMN epoch BIGINT NOT NULL DEFAULT 0;
    """,
]
