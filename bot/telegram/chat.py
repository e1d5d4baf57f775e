"""The flows' chat interface over python-telegram-bot's Bot."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from telegram import (
    Bot,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyParameters,
)
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, TimedOut

from bot.conversation.chat import (
    ChatUnavailable,
    DeliveryFailed,
    DeliveryUncertain,
    Keyboard,
    Sent,
    TooLarge,
    is_group,
)
from bot.streams import ByteSource, PathSource
from bot.telegram.files import UrlSource
from bot.telegram.migration import Moves

log = logging.getLogger(__name__)

T = TypeVar("T")

DOWNLOAD_RETRIES = (0.5, 1.0, 2.0)
"""Pauses before downloading a person's file again after a transient failure."""

TRANSFER_BASE_SECONDS = 60.0
TRANSFER_MIN_RATE = 1_000_000
"""A transfer is given a minute plus a second per megabyte (a slow 8 Mbit/s link)."""
LOCAL_FETCH_SECONDS = 1800.0
"""getFile on a local Bot API server answers once that server has fetched the file from
Telegram (up to 2000 MB): sized for the largest file, as getFile does not say its size."""


def transfer_timeout(size: int | None) -> float:
    """Read/write timeout for moving ``size`` bytes: python-telegram-bot's default 5 s read
    timeout is for short calls; a big file sent through a local Bot API server is answered
    only once it is sent, and a timed-out send is uncertain (a link offered, a second copy)."""
    if size is None:
        return LOCAL_FETCH_SECONDS
    return TRANSFER_BASE_SECONDS + size / TRANSFER_MIN_RATE


def transient(exc: BaseException) -> bool:
    """A failure Telegram (or a proxy in front of it) gives before doing anything: a 5xx, an
    HTML error page, a refused connection, a connection not made in time. Not a read timeout:
    the request may have gone through."""
    if isinstance(exc, TimedOut):
        return isinstance(exc.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout)
    return type(exc) is NetworkError


@contextlib.contextmanager
def _reachable(chat_id: int) -> Iterator[None]:
    """Telegram's 403 means the chat is gone for the bot (blocked, kicked)."""
    try:
        yield
    except Forbidden as exc:
        raise ChatUnavailable(f"chat {chat_id}: {exc.message}") from exc


def _readable(path: str) -> bool:
    return os.path.isabs(path) and os.path.isfile(path) and os.access(path, os.R_OK)


def _encoded(url: str) -> str:
    """Non-ASCII characters in a file path percent-encoded, as python-telegram-bot does."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=urllib.parse.quote(parts.path)))


def markup(buttons: Keyboard | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.text, url=b.url)
                if b.url
                else InlineKeyboardButton(b.text, callback_data=b.data or b.text)
                for b in row
            ]
            for row in buttons
        ]
    )


def _entities_refused(exc: BadRequest) -> bool:
    return "can't parse entities" in exc.message.lower()


class AdminCache:
    """Who is an admin of which group, for ``ttl`` seconds: a busy group's presses and
    commands would each ask Telegram's getChatMember (and wait behind its limits) otherwise.
    Bounded: past ``size`` entries the oldest go first."""

    def __init__(self, ttl: float = 60.0, size: int = 4096) -> None:
        self.ttl = ttl
        self.size = size
        self._seen: dict[tuple[int, int], tuple[float, bool]] = {}

    def get(self, chat_id: int, user_id: int) -> bool | None:
        hit = self._seen.get((chat_id, user_id))
        if hit is None or time.monotonic() >= hit[0]:
            return None
        return hit[1]

    def put(self, chat_id: int, user_id: int, admin: bool) -> None:
        self._seen.pop((chat_id, user_id), None)
        while len(self._seen) >= self.size:
            del self._seen[next(iter(self._seen))]  # dicts keep insertion order: the oldest
        self._seen[(chat_id, user_id)] = (time.monotonic() + self.ttl, admin)


class TelegramChat:
    """One chat or forum topic. Every message goes to the same topic it came from. Link
    previews are off for every message through the Application's ``Defaults`` (app.py)."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        thread_id: int = 0,
        reply_to: int | None = None,
        *,
        files: httpx.AsyncClient | None = None,
        admins: AdminCache | None = None,
        moves: Moves | None = None,
    ) -> None:
        self._bot = bot
        self._admins = admins
        self._files = files
        self._moves = moves
        self._chat_id = moves.current(chat_id) if moves is not None else chat_id
        # A group that became a supergroup: its old messages stay in the old group, so an
        # edit of one becomes a new message in the new chat (old id -> the new message's).
        self._moved = self._chat_id != chat_id
        self._replaced: dict[int, int] = {}
        self._thread_id = thread_id
        # In groups every answer quotes the message it answers, so people see who asked what.
        self._reply = (
            ReplyParameters(reply_to, allow_sending_without_reply=True)
            if reply_to is not None and is_group(chat_id)
            else None
        )

    @property
    def chat_id(self) -> int:
        return self._chat_id

    @property
    def thread_id(self) -> int:
        return self._thread_id

    @property
    def _thread(self) -> int | None:
        return self._thread_id or None

    async def _migrating(self, make: Callable[[int], Awaitable[T]]) -> T:
        """``make(chat_id)``; when Telegram says the group became a supergroup, the chat moves
        (bot.telegram.migration) and the call is made again there."""
        old = self._chat_id  # read once: calls run concurrently (a live status, typing)
        try:
            return await make(old)
        except ChatMigrated as exc:
            new = int(exc.new_chat_id)
            self._chat_id, self._moved = new, True
            if self._moves is not None and old != new:
                await self._moves.moved(old, new)
            return await make(new)

    async def send(
        self, text: str, *, buttons: Keyboard | None = None, html: str | None = None
    ) -> int:
        async def make(chat_id: int) -> Message:
            send = functools.partial(
                self._bot.send_message,
                chat_id,
                message_thread_id=self._thread,
                reply_markup=markup(buttons),
                reply_parameters=self._reply,
            )
            with _reachable(chat_id):
                return await self._formatted(send, text, html)

        return (await self._migrating(make)).message_id

    async def edit(
        self, message_id: int, text: str, *, buttons: Keyboard | None = None,
        html: str | None = None,
    ) -> None:
        message_id = self._replaced.get(message_id, message_id)

        async def make(chat_id: int) -> object:
            edit = functools.partial(
                self._bot.edit_message_text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=markup(buttons),
            )
            with _reachable(chat_id):
                return await self._formatted(edit, text, html)

        try:
            await self._migrating(make)
        except BadRequest as exc:
            if "not modified" in exc.message:
                return
            if self._moved and "not found" in exc.message.lower():
                self._replaced[message_id] = await self.send(text, buttons=buttons, html=html)
                return
            raise

    async def _formatted(self, call: Callable[..., Awaitable[T]], text: str, html: str | None) -> T:
        """``call`` with ``html`` when given, and with the plain ``text`` when there is none or
        Telegram refuses its formatting."""
        if html is not None:
            try:
                return await call(html, parse_mode=ParseMode.HTML)
            except BadRequest as exc:
                if not _entities_refused(exc):
                    raise
                log.warning("chat %s: Telegram refused the formatting (%s); plain text",
                            self._chat_id, exc.message)
        return await call(text)

    async def delete(self, message_id: int) -> None:
        async def make(chat_id: int) -> bool:
            with _reachable(chat_id):
                return await self._bot.delete_message(chat_id, message_id)

        try:
            await self._migrating(make)
        except BadRequest as exc:
            log.debug("delete of %s in %s failed: %s", message_id, self._chat_id, exc.message)

    async def action(self, action: str = "typing") -> None:
        async def make(chat_id: int) -> bool:
            with _reachable(chat_id):
                return await self._bot.send_chat_action(
                    chat_id, action, message_thread_id=self._thread
                )

        await self._migrating(make)

    async def send_video(
        self, source: Path | str, *, caption: str | None = None, filename: str = "video.mp4",
        as_document: bool = False, buttons: Keyboard | None = None,
    ) -> Sent:
        # A Path lets python-telegram-bot hand a local Bot API server a file:// URI (no copy of
        # a 2 GB export through memory).
        # With the public API the file (50 MB at most) is streamed from an open handle:
        # httpx reads it in 64 KB chunks (and rewinds it for a retry), never whole in memory.
        if not isinstance(source, Path):
            return await self._send_media(
                source, caption, filename, as_document, buttons, transfer_timeout(None)
            )
        size = (await asyncio.to_thread(source.stat)).st_size
        if self._bot.local_mode:
            return await self._send_media(
                source, caption, filename, as_document, buttons, transfer_timeout(size)
            )
        handle = await asyncio.to_thread(source.open, "rb")
        try:
            media = InputFile(handle, filename=filename, read_file_handle=False)
            # Telegram's own API answers soon after the (at most 50 MB) upload: its default
            # read timeout stands, and a late answer is reported as uncertain (the link).
            return await self._send_media(media, caption, filename, as_document, buttons, None)
        finally:
            await asyncio.to_thread(handle.close)

    async def _send_media(
        self,
        media: object,
        caption: str | None,
        filename: str,
        as_document: bool,
        buttons: Keyboard | None,
        timeout: float | None,
    ) -> Sent:
        common: dict[str, Any] = {
            "caption": caption,
            "filename": filename,
            "message_thread_id": self._thread,
            "reply_markup": markup(buttons),
            "reply_parameters": self._reply,
            "write_timeout": max(600.0, timeout or 0.0),
        }
        if timeout is not None:
            common["read_timeout"] = timeout
        async def make(chat_id: int) -> Message:
            if as_document:
                return await self._bot.send_document(chat_id, media, **common)  # type: ignore[arg-type]
            return await self._bot.send_video(
                chat_id, media, supports_streaming=True, **common  # type: ignore[arg-type]
            )

        try:
            message = await self._migrating(make)
        except Forbidden as exc:
            raise ChatUnavailable(f"chat {self._chat_id}: {exc.message}") from exc
        except NetworkError as exc:
            if "too large" in str(exc).lower() or "413" in str(exc):
                raise TooLarge(str(exc)) from exc
            if isinstance(exc, BadRequest):
                raise DeliveryFailed(exc.message) from exc
            # TimedOut, or a failure the rate limiter already repeated: the file may be there.
            raise DeliveryUncertain(f"{type(exc).__name__}: {exc.message}") from exc
        sent = message.document if as_document else (message.video or message.document)
        return Sent(message.message_id, sent.file_id if sent else None)

    async def open_file(self, file_id: str) -> ByteSource:
        try:
            # A local server fetches the whole file before it answers; Telegram's own API
            # answers at once (the bytes come later, from its file server).
            waits: dict[str, Any] = (
                {"read_timeout": LOCAL_FETCH_SECONDS} if self._bot.local_mode else {}
            )
            file = await self._bot.get_file(file_id, **waits)
        except BadRequest as exc:
            if "too big" in exc.message.lower():
                raise TooLarge(exc.message) from exc
            raise
        if not file.file_path:
            raise DeliveryFailed("Telegram gave no file path")
        # python-telegram-bot's download_to_drive copies a local file with a blocking
        # shutil.copyfile; instead the upload streams straight from the path, or the URL.
        if file.file_path.startswith(("http://", "https://")):
            url = file.file_path
        elif await asyncio.to_thread(_readable, file.file_path):
            return PathSource(Path(file.file_path))
        else:
            # A local Bot API server on another host: its files are served by a web server in
            # front of it at <file root>/<absolute path> (how PTB builds the URL too).
            url = f"{self._bot.base_file_url}/{file.file_path}"
        if self._files is None:
            raise RuntimeError("this chat was made without a client for file downloads")
        return UrlSource(self._files, _encoded(url), file.file_size, retries=DOWNLOAD_RETRIES)

    async def is_admin(self, user_id: int) -> bool:
        if self._chat_id > 0:
            return True
        cached = self._admins.get(self._chat_id, user_id) if self._admins else None
        if cached is not None:
            return cached
        async def make(chat_id: int) -> ChatMember:
            with _reachable(chat_id):
                return await self._bot.get_chat_member(chat_id, user_id)

        member = await self._migrating(make)
        admin = member.status in {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}
        if self._admins is not None:
            self._admins.put(self._chat_id, user_id, admin)
        return admin
