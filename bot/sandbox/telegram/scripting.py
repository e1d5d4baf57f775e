"""The test side of the fake Telegram: playing users (send_text, send_video, press_button, ...)
and observing what the bot did (messages, calls, wait_for_message, transcript)."""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Unpack

from bot.sandbox.telegram.api_types import (
    _T,
    ApiCall,
    BotMessage,
    ChatOptions,
    JSONDict,
    _LogEntry,
)
from bot.sandbox.telegram.parse_mode import (
    detect_entities,
)
from bot.sandbox.telegram.server import TelegramServer


class UserScripting(TelegramServer):
    """Users' actions and observations of the bot."""

    def set_admins(
        self, chat_id: int, user_ids: Iterable[int], *, creator: int | None = None
    ) -> None:
        """Declare the chat's administrators (and optionally its creator) for getChatMember."""
        self._admins[chat_id] = set(user_ids)
        if creator is not None:
            self._creators[chat_id] = creator

    async def send_text(self, chat_id: int, text: str, **chat: Unpack[ChatOptions]) -> JSONDict:
        """A user writes ``text``; entities (commands, mentions, URLs) are added like Telegram."""
        message = self._user_message(chat_id, chat)
        message["text"] = text
        entities = detect_entities(text)
        if entities:
            message["entities"] = entities
        return self._deliver(message, text)

    async def send_video(
        self,
        chat_id: int,
        content: bytes,
        *,
        file_name: str = "clip.mp4",
        mime_type: str = "video/mp4",
        duration: int = 10,
        width: int = 1280,
        height: int = 720,
        caption: str | None = None,
        media_group_id: str | None = None,
        declared_size: int | None = None,
        source_path: Path | None = None,
        **chat: Unpack[ChatOptions],
    ) -> JSONDict:
        """A user sends a video; its bytes are downloadable via getFile. With ``source_path``
        the bytes are that file's (for big files: nothing held in memory)."""
        stored = self._store_file(
            "video", None if source_path else content, file_name, mime_type, declared_size,
            source_path=source_path,
        )
        media = self._file_object(stored, width=width, height=height, duration=duration)
        return self._deliver_media(chat_id, chat, "video", media, caption, media_group_id)

    async def send_document(
        self,
        chat_id: int,
        content: bytes,
        *,
        file_name: str = "file.bin",
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
        media_group_id: str | None = None,
        declared_size: int | None = None,
        source_path: Path | None = None,
        **chat: Unpack[ChatOptions],
    ) -> JSONDict:
        """A user sends a file as a document (``source_path``: its bytes are that file's)."""
        stored = self._store_file(
            "document", None if source_path else content, file_name, mime_type, declared_size,
            source_path=source_path,
        )
        media = self._file_object(stored)
        return self._deliver_media(chat_id, chat, "document", media, caption, media_group_id)

    async def send_photo(
        self,
        chat_id: int,
        content: bytes,
        *,
        width: int = 1280,
        height: int = 720,
        caption: str | None = None,
        media_group_id: str | None = None,
        declared_size: int | None = None,
        **chat: Unpack[ChatOptions],
    ) -> JSONDict:
        """A user sends a photo: a list of PhotoSize, the largest (the real bytes) last."""
        sizes = self._photo_sizes(content, width, height, declared_size)
        return self._deliver_media(chat_id, chat, "photo", sizes, caption, media_group_id)

    async def send_video_note(
        self,
        chat_id: int,
        content: bytes,
        *,
        length: int = 384,
        duration: int = 10,
        declared_size: int | None = None,
        **chat: Unpack[ChatOptions],
    ) -> JSONDict:
        """A user sends a round video note."""
        stored = self._store_file("video_note", content, None, None, declared_size)
        media = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "length": length,
            "duration": duration,
            "file_size": stored.size,
        }
        return self._deliver_media(chat_id, chat, "video_note", media, None, None)

    async def send_animation(
        self,
        chat_id: int,
        content: bytes,
        *,
        file_name: str = "animation.mp4",
        mime_type: str = "video/mp4",
        duration: int = 3,
        width: int = 480,
        height: int = 270,
        caption: str | None = None,
        declared_size: int | None = None,
        **chat: Unpack[ChatOptions],
    ) -> JSONDict:
        """A user sends a GIF animation (Telegram also fills ``document`` for it)."""
        stored = self._store_file("animation", content, file_name, mime_type, declared_size)
        media = self._file_object(stored, width=width, height=height, duration=duration)
        message = self._user_message(chat_id, chat)
        message["animation"] = media
        message["document"] = self._file_object(stored)
        return self._deliver(message, self._media_line("animation", stored, None), caption)

    async def send_audio(
        self,
        chat_id: int,
        content: bytes,
        *,
        file_name: str = "track.mp3",
        mime_type: str = "audio/mpeg",
        duration: int = 180,
        title: str | None = None,
        performer: str | None = None,
        caption: str | None = None,
        declared_size: int | None = None,
        **chat: Unpack[ChatOptions],
    ) -> JSONDict:
        """A user sends a music file."""
        stored = self._store_file("audio", content, file_name, mime_type, declared_size)
        media = self._file_object(stored, duration=duration)
        if title:
            media["title"] = title
        if performer:
            media["performer"] = performer
        return self._deliver_media(chat_id, chat, "audio", media, caption, None)

    async def send_voice(
        self,
        chat_id: int,
        content: bytes,
        *,
        duration: int = 5,
        mime_type: str = "audio/ogg",
        declared_size: int | None = None,
        **chat: Unpack[ChatOptions],
    ) -> JSONDict:
        """A user sends a voice message."""
        stored = self._store_file("voice", content, None, mime_type, declared_size)
        media = self._file_object(stored, duration=duration)
        return self._deliver_media(chat_id, chat, "voice", media, None, None)

    async def send_sticker(
        self,
        chat_id: int,
        content: bytes = b"RIFF\0\0\0\0WEBP",
        *,
        emoji: str = "👍",
        **chat: Unpack[ChatOptions],
    ) -> JSONDict:
        """A user sends a sticker."""
        stored = self._store_file("sticker", content, None, "image/webp", None)
        media = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": stored.size,
        }
        message = self._user_message(chat_id, chat)
        message["sticker"] = media
        return self._deliver(message, f"[sticker {emoji}]")

    async def send_location(
        self, chat_id: int, latitude: float, longitude: float, **chat: Unpack[ChatOptions]
    ) -> JSONDict:
        """A user shares a location."""
        message = self._user_message(chat_id, chat)
        message["location"] = {"latitude": latitude, "longitude": longitude}
        return self._deliver(message, f"[location {latitude}, {longitude}]")

    async def send_contact(
        self,
        chat_id: int,
        phone_number: str,
        first_name: str,
        *,
        last_name: str | None = None,
        contact_user_id: int | None = None,
        **chat: Unpack[ChatOptions],
    ) -> JSONDict:
        """A user shares a contact."""
        contact: JSONDict = {"phone_number": phone_number, "first_name": first_name}
        if last_name:
            contact["last_name"] = last_name
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        message = self._user_message(chat_id, chat)
        message["contact"] = contact
        return self._deliver(message, f"[contact {first_name} {phone_number}]")

    async def press_button(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user: JSONDict | int | None = None,
        check: bool = True,
    ) -> JSONDict:
        """A user presses an inline button of a bot message; returns the callback_query update.

        With ``check`` (default) the message must be a live bot message showing a button with
        this callback_data, as a real client can only press what it sees.
        """
        raw = self._messages.get((chat_id, message_id))
        bot_message = self._find_bot_message(chat_id, message_id)
        if check:
            if raw is None or bot_message is None or bot_message.deleted:
                raise AssertionError(f"no live bot message {message_id} in chat {chat_id}")
            datas = [b.get("callback_data") for b in bot_message.buttons]
            if data not in datas:
                raise AssertionError(
                    f"message {message_id} has no button with callback_data {data!r}; "
                    f"buttons: {bot_message.buttons}"
                )
        from_user = self._resolve_user(chat_id, user)
        query_id = str(secrets.randbits(63))
        query: JSONDict = {
            "id": query_id,
            "from": from_user,
            "chat_instance": str(abs(chat_id) * 7919 % 10**12 + 10**11),
            "data": data,
        }
        if raw is not None:
            query["message"] = copy.deepcopy(raw)
        self._callbacks[query_id] = query
        label = data
        for button in bot_message.buttons if bot_message is not None else []:
            if button.get("callback_data") == data:
                label = str(button.get("text", data))
        self._log.setdefault(chat_id, []).append(_LogEntry("user", None, f"[pressed {label!r}]"))
        return self._enqueue({"callback_query": query})

    def enqueue_update(self, update: JSONDict) -> JSONDict:
        """Queue an arbitrary update (``update_id`` is assigned); for cases not covered above."""
        return self._enqueue(dict(update))

    # -- observing the bot -------------------------------------------------------------------

    def calls_of(self, method: str) -> list[ApiCall]:
        """All recorded calls of one Bot API method (case-insensitive), in order."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def messages(self, chat_id: int, message_thread_id: int | None = None) -> list[BotMessage]:
        """The bot's messages in a chat in sending order, current state (deleted included).

        ``message_thread_id=None`` means all threads; an int keeps only that thread's messages.
        """
        found = self._bot_messages.get(chat_id, [])
        if message_thread_id is None:
            return list(found)
        return [m for m in found if m.message_thread_id == message_thread_id]

    def chat_actions(self, chat_id: int) -> list[str]:
        """Chat actions (``typing``, ``upload_video``, ...) the bot sent to a chat, in order."""
        return list(self._actions.get(chat_id, []))

    def commands(self, scope: JSONDict | None = None, language_code: str = "") -> list[JSONDict]:
        """The bot's command list for a scope (default scope if None) and language."""
        return list(self._commands.get(self._commands_key(scope, language_code), []))

    def pending_updates(self) -> list[JSONDict]:
        """Updates queued and not yet confirmed by the bot through getUpdates' offset."""
        return list(self._updates)

    def file_content(self, file_id: str) -> bytes | None:
        """The bytes stored under a file_id (user-sent or bot-uploaded), if known."""
        stored = self._files.get(file_id)
        if stored is None:
            return None
        if stored.source_path is not None:
            return stored.source_path.read_bytes()
        if stored.content is None:
            return None
        return stored.content[: stored.size] + bytes(max(0, stored.size - len(stored.content)))

    async def wait_for(self, predicate: Callable[[], _T | None], timeout: float = 10.0) -> _T:
        """Poll ``predicate`` every 20 ms until it returns something truthy and return that.

        Raises AssertionError with the recent Bot API calls and chat transcripts on timeout.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if loop.time() >= deadline:
                raise AssertionError(f"condition not met within {timeout:.1f}s\n{self.dump()}")
            await asyncio.sleep(0.02)

    async def wait_for_message(
        self,
        chat_id: int,
        *,
        contains: str | None = None,
        kind: str | None = None,
        timeout: float = 10.0,
        after: int = 0,
        message_thread_id: int | None = None,
    ) -> BotMessage:
        """Wait for the first live bot message in the chat past the first ``after`` ones.

        Pass ``after=len(fake.messages(chat_id))`` to wait for the *next* message.  Matching uses
        the current state, so a message later edited to contain ``contains`` also matches.
        """

        def find() -> BotMessage | None:
            for message in self.messages(chat_id)[after:]:
                if message.deleted:
                    continue
                if message_thread_id is not None and message.message_thread_id != (
                    message_thread_id
                ):
                    continue
                if kind is not None and message.kind != kind:
                    continue
                if contains is not None and contains not in (message.text or ""):
                    continue
                return message
            return None

        try:
            return await self.wait_for(find, timeout)
        except AssertionError as exc:
            wanted = f"kind={kind!r} contains={contains!r} after={after}"
            raise AssertionError(f"no bot message in chat {chat_id} ({wanted}); {exc}") from None

    async def wait_for_call(
        self,
        method: str,
        *,
        after: int = 0,
        predicate: Callable[[ApiCall], bool] | None = None,
        timeout: float = 10.0,
    ) -> ApiCall:
        """Wait for a call of ``method`` past the first ``after`` ones, optionally matching."""

        def find() -> ApiCall | None:
            for call in self.calls_of(method)[after:]:
                if predicate is None or predicate(call):
                    return call
            return None

        return await self.wait_for(find, timeout)

    def transcript(self, chat_id: int) -> list[str]:
        """The chat as lines ``user: ...`` / ``bot: ...``; bot messages in their final state."""
        lines: list[str] = []
        for entry in self._log.get(chat_id, []):
            if entry.line is not None:
                lines.append(f"{entry.who}: {entry.line}")
                continue
            assert entry.message_id is not None
            message = self._find_bot_message(chat_id, entry.message_id)
            if message is None:
                continue
            lines.append(f"bot: {self._describe_bot_message(message)}")
        return lines

    def dump(self, last: int = 25) -> str:
        """A readable summary of recent calls and chats, for failure messages."""
        out = ["recent Bot API calls (getUpdates omitted):"]
        calls = [c for c in self.calls if c.method != "getUpdates"][-last:]
        for call in calls:
            shown = {k: v for k, v in call.params.items() if k != "chat_id"}
            text = json.dumps(shown, ensure_ascii=False, default=str)
            if len(text) > 200:
                text = text[:200] + "..."
            status = "ok" if call.ok else f"ERROR {call.error_code} {call.description}"
            out.append(f"  {call.method} chat={call.chat_id} {text} -> {status}")
        if not calls:
            out.append("  (none)")
        for chat_id in self._log:
            out.append(f"chat {chat_id}:")
            out.extend(f"  {line}" for line in self.transcript(chat_id)[-last:])
        for error in self.server_errors:
            out.append(f"fake server error: {error!r}")
        return "\n".join(out)

