"""What flows and the queue need from durable storage, and every query both engines run alike.

SQLite (one process, the default: ``bot.store.sqlite``) and PostgreSQL (several replicas:
``bot.store.postgres``) both subclass ``ChatStore``. The queries they share are written here
once, in PostgreSQL's numbered parameters (``$1``), which SQLite takes as ``?1``; an engine
supplies how to run a statement and only the SQL that differs (connections, migrations,
locks, leases). Code outside ``bot/store`` depends on ``ChatStore`` only, so a test of one
contract covers both engines (tests/store/).
"""

from __future__ import annotations

from bot.store.chat_settings import SettingsQueries
from bot.store.chats import ChatQueries
from bot.store.claims import ExclusiveSteps
from bot.store.history import HistoryQueries
from bot.store.jobs import JobQueries
from bot.store.moves import ChatMoves
from bot.store.updates import UpdateQueries


class ChatStore(
    ChatQueries,
    HistoryQueries,
    JobQueries,
    UpdateQueries,
    SettingsQueries,
    ChatMoves,
    ExclusiveSteps,
):
    """Everything flows and the queue need from durable storage, one query family a module
    over one engine (``base.StoreBase``): chats and topics (``chats.py``), originals and
    exports (``history.py``), jobs (``jobs.py``), the inbox and the sends records
    (``updates.py``), /settings (``chat_settings.py``), a chat whose id changed
    (``moves.py``), and the steps fenced by the chat's lease (``claims.py``)."""
