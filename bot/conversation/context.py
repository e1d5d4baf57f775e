"""What a flow needs: the chat it talks to, the user's language, and the shared services."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.backend import NemoClient
from bot.backend.models import MAX_UPLOAD_MB
from bot.conversation import messages
from bot.conversation.accounts import Accounts
from bot.conversation.chat import Chat
from bot.conversation.encoder import Local
from bot.i18n import Translator, backend_language
from bot.store import ChatStore, Job
from bot.tempfiles import TempFiles


@dataclass(frozen=True, slots=True)
class Timing:
    """Intervals, from settings; tests shrink them."""

    still_working: float = 120
    render_poll: float = 30
    render_give_up: float = 30 * 60  # a render still unfinished after this is abandoned
    typing_refresh: float = 4.5
    typing_delay: float = 0.5  # no "typing…" for work done sooner
    album_wait: float = 1.0  # an album's items arrive as separate updates within ~1 s
    transfer_progress: float = 3.0  # a transfer's status appears, then updates, this often


class TypingBudget:
    """Keeps "typing…" refreshes of all chats together to at most ``per_second``.

    Telegram shows the action for 5 s, so a handful of open turns are each refreshed every
    ``typing_refresh``; with a thousand long turns that would be 222 Bot API calls a second,
    most of the bot's CPU. Each refresh interval is instead stretched to open turns /
    ``per_second`` when that is longer. A turn's first "typing" is never held back: the person
    who just wrote sees it at once, and a long turn also gets its "still working" message.
    """

    def __init__(self, per_second: float = 20.0) -> None:
        self.per_second = per_second
        self.active = 0

    def interval(self, refresh: float) -> float:
        """Seconds until this turn's next refresh, given the turns open now."""
        return max(refresh, self.active / self.per_second)


MB = 1_000_000
"""One rule for sizes everywhere: a megabyte is 1 000 000 bytes, the safe reading of a limit
(what the bot says is "20 MB" is never more than 20 000 000 bytes)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Telegram's file limits: 20 MB down and 50 MB up, unless a local Bot API server runs
    (2000 MB); and the backend's."""

    download: int = 20 * MB
    upload: int = 50 * MB
    backend: int = MAX_UPLOAD_MB * MB

    @classmethod
    def for_mode(cls, local: bool) -> Limits:
        return cls(download=2000 * MB, upload=2000 * MB) if local else cls()

    def accepted(self, backend: bool) -> int:
        """The biggest file a person may send: what Telegram lets the bot fetch, and (when
        the backend does the work) what it takes."""
        return min(self.download, self.backend) if backend else self.download


@dataclass(frozen=True, slots=True)
class Services:
    client: NemoClient
    store: ChatStore
    accounts: Accounts
    timing: Timing
    temp: TempFiles
    limits: Limits = Limits()
    typing: TypingBudget = field(default_factory=TypingBudget)
    auto_export: bool = True
    """Render and send the video after a turn that changed the project (AUTO_EXPORT)."""
    local: Local | None = None
    """Compression on this machine (LOCAL_COMPRESSION), when an ffmpeg was found."""

    @property
    def backend_enabled(self) -> bool:
        """LOCAL_COMPRESSION=always: the backend is never contacted (no token, no session)."""
        return self.local is None or not self.local.always


@dataclass(frozen=True, slots=True)
class Ctx:
    chat: Chat
    t: Translator
    svc: Services
    job: Job | None = None
    """The queued job this runs for (``None`` for direct answers): what a fallback to local
    compression repeats."""

    @property
    def language(self) -> str:
        return backend_language(self.t.locale)

    async def tell_session_lost(self) -> None:
        """The one notice when the backend lost the session and a new one replaced it."""
        await self.chat.send(messages.session_lost(self.t))
