"""The small chat interface the flows talk to, so they can be run without Telegram."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.streams import ByteSource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: either a callback (``data``) or a link (``url``)."""

    text: str
    data: str | None = None
    url: str | None = None


Keyboard = Sequence[Sequence[Button]]


@dataclass(frozen=True, slots=True)
class Sent:
    """A file sent: its message, and Telegram's id to send the same file again later."""

    message_id: int
    file_id: str | None = None


class TooLarge(Exception):
    """Telegram refused a file for its size (download over 20 MB, upload over 50 MB)."""


class DeliveryFailed(Exception):
    """Telegram refused the media itself (not a video it can play, a bad URL...)."""


class DeliveryUncertain(Exception):
    """No answer from Telegram while sending media (timed out, connection lost): it may or
    may not have arrived, and sending it again could take as long."""


class ChatUnavailable(Exception):
    """The bot can no longer write to this chat (blocked by the user, removed from the group):
    nothing can be told, the work is dropped quietly."""


def is_group(chat_id: int) -> bool:
    """Groups and supergroups have negative ids (so do channels, whose posts the bot does
    not take): the one test for "is this a group"."""
    return chat_id < 0


class Chat(Protocol):
    """One conversation: a private chat, a group, or one forum topic of a supergroup."""

    @property
    def chat_id(self) -> int: ...

    @property
    def thread_id(self) -> int: ...

    async def send(
        self, text: str, *, buttons: Keyboard | None = None, html: str | None = None
    ) -> int:
        """Send text; returns the new message id. With ``html`` that formatted version is
        tried first and ``text`` is the plain fallback should Telegram refuse its entities."""
        ...

    async def edit(
        self, message_id: int, text: str, *, buttons: Keyboard | None = None,
        html: str | None = None,
    ) -> None:
        """Replace a message's text (and buttons); ``html`` as in :meth:`send`."""
        ...

    async def delete(self, message_id: int) -> None: ...

    async def action(self, action: str = "typing") -> None: ...

    async def send_video(
        self, source: Path | str, *, caption: str | None = None, filename: str = "video.mp4",
        as_document: bool = False, buttons: Keyboard | None = None,
    ) -> Sent:
        """Send a video file (``Path``), a URL or a Telegram file_id; raises ``TooLarge`` or
        ``DeliveryFailed``."""
        ...

    async def open_file(self, file_id: str) -> ByteSource:
        """Where to read a file the person sent: its path when this machine can read it (a
        local Bot API server), else its download URL, streamed. Raises ``TooLarge`` past
        Telegram's download limit."""
        ...

    async def is_admin(self, user_id: int) -> bool: ...


async def send_playable(
    chat: Chat, path: Path, *, caption: str, buttons: Keyboard | None = None
) -> tuple[Sent, bool] | None:
    """A finished video as one Telegram plays, else as a document: ``(sent, as_document)``,
    or ``None`` when Telegram refused both. ``TooLarge`` and ``DeliveryUncertain`` are the
    caller's: what to send instead differs (a link, a size to ask for)."""
    for as_document in (False, True):
        try:
            sent = await chat.send_video(path, caption=caption, filename="video.mp4",
                                         as_document=as_document, buttons=buttons)
            return sent, as_document
        except DeliveryFailed:
            log.info("chat %s: Telegram refused the video as %s", chat.chat_id,
                     "document" if as_document else "video")
    return None
