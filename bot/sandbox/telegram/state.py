"""What the fake Telegram remembers (chats, messages, files, updates) and the helpers every
method group uses to read and change it."""

from __future__ import annotations

import asyncio
import copy
import itertools
import random
import time
from collections import Counter
from pathlib import Path

from bot.sandbox.server import FakeServer
from bot.sandbox.telegram.api_types import (
    BOT_FIRST_NAME,
    BOT_USER_ID,
    DEFAULT_DOWNLOAD_LIMIT,
    DEFAULT_GROUP_USER_ID,
    DEFAULT_TOKEN,
    DEFAULT_UPLOAD_LIMIT,
    LOCAL_MODE_LIMIT,
    ApiCall,
    BotMessage,
    ChatOptions,
    JSONDict,
    UploadedFile,
    _Failure,
    _Handler,
    _human_size,
    _LogEntry,
    _new_file_id,
    _StoredFile,
)
from bot.sandbox.telegram.parse_mode import (
    detect_entities,
)


class TelegramState(FakeServer):
    """The fake's state; the method groups and the HTTP server build on it."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "rtk_compressor_bot",
        upload_limit: int | None = None,
        download_limit: int | None = None,
        local_mode: bool = False,
        local_files_elsewhere: bool = False,
    ) -> None:
        self.token = token
        self.local_mode = local_mode
        # A local server on another host: getFile's absolute paths do not exist on the bot's
        # machine, and the files are served over HTTP at <file root>/<absolute path> (as a web
        # server in front of a real local Bot API server does).
        self.local_files_elsewhere = local_files_elsewhere
        default_up = LOCAL_MODE_LIMIT if local_mode else DEFAULT_UPLOAD_LIMIT
        default_down = LOCAL_MODE_LIMIT if local_mode else DEFAULT_DOWNLOAD_LIMIT
        self.upload_limit = default_up if upload_limit is None else upload_limit
        self.download_limit = default_down if download_limit is None else download_limit
        self.bot_user: JSONDict = {
            "id": BOT_USER_ID,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": bot_username,
        }
        self.calls: list[ApiCall] = []
        self.callback_answers: dict[str, JSONDict] = {}
        self.webhook_url = ""
        self.menu_buttons: dict[int | None, JSONDict] = {}
        self.bot_texts: dict[str, dict[str, str]] = {}
        self.server_errors: list[BaseException] = []
        self.file_downloads = 0
        """Files fetched over HTTP from /file/bot<token>/..."""
        self._webhook_init()

        self._tmpdir: Path | None = None
        self._stopping = False
        self._updates: list[JSONDict] = []
        self._update_ids = itertools.count(1)
        self._allowed_updates: list[str] = []
        self._wakeup = asyncio.Event()
        self._poll_generation = 0
        self._polls = 0
        self._users: dict[int, JSONDict] = {}
        self._chats: dict[int, JSONDict] = {}
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._deleted: set[tuple[int, int]] = set()
        self._bot_messages: dict[int, list[BotMessage]] = {}
        self._log: dict[int, list[_LogEntry]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._file_paths: dict[str, _StoredFile] = {}
        self._file_counter = itertools.count(0)
        self._actions: dict[int, list[str]] = {}
        self._commands: dict[tuple[str, str], list[JSONDict]] = {}
        self._admins: dict[int, set[int]] = {}
        self._creators: dict[int, int] = {}
        self._callbacks: dict[str, JSONDict] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._stalls: dict[str, list[float]] = {}
        self._applied_failures: dict[str, list[_Failure]] = {}
        self._migrated: dict[int, int] = {}  # group id -> the supergroup it became
        self.fault_rate = 0.0
        self.blocked_chats: set[int] = set()
        self.faults_injected: Counter[str] = Counter()
        self._fault_random = random.Random(0)
        self._handlers: dict[str, tuple[str, _Handler]] = {}
        self._register_handlers()

    def _register_handlers(self) -> None:
        """Fill :attr:`_handlers`; :class:`FakeTelegram` does, as it sees every method group."""
        raise NotImplementedError

    def user(
        self,
        user_id: int,
        first_name: str = "Alice",
        language_code: str | None = "en",
        username: str | None = None,
    ) -> JSONDict:
        """Register (or redefine) a user and return its User object."""
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        chat = self._chats.get(user_id)
        if chat is not None and chat["type"] == "private":
            chat.update(self._private_chat(user))
        return dict(user)

    # -- users' side internals ---------------------------------------------------------------

    def _resolve_user(self, chat_id: int, user: JSONDict | int | None) -> JSONDict:
        if isinstance(user, dict):
            self._users.setdefault(int(user["id"]), dict(user))
            return dict(user)
        user_id = user if user is not None else (chat_id if chat_id > 0 else DEFAULT_GROUP_USER_ID)
        if user_id not in self._users:
            self.user(user_id)
        return dict(self._users[user_id])

    def _private_chat(self, user: JSONDict) -> JSONDict:
        chat: JSONDict = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if user.get(key):
                chat[key] = user[key]
        return chat

    def _ensure_chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        title: str | None = None,
        is_forum: bool | None = None,
    ) -> JSONDict:
        chat = self._chats.get(chat_id)
        if chat is None:
            kind = chat_type or ("private" if chat_id > 0 else "supergroup")
            if kind == "private":
                user = self._users.get(chat_id) or self.user(chat_id)
                chat = self._private_chat(user)
            else:
                chat = {"id": chat_id, "type": kind, "title": title or f"Group {chat_id}"}
            self._chats[chat_id] = chat
        elif chat_type is not None and chat_type != chat["type"]:
            if chat_type == "private":
                chat.clear()
                chat.update(self._private_chat(self._resolve_user(chat_id, None)))
            else:
                chat["type"] = chat_type
                chat.setdefault("title", title or f"Group {chat_id}")
                for key in ("first_name", "last_name", "username"):
                    chat.pop(key, None)
        if title is not None and chat["type"] != "private":
            chat["title"] = title
        if is_forum is not None and chat["type"] == "supergroup":
            if is_forum:
                chat["is_forum"] = True
            else:
                chat.pop("is_forum", None)
        return chat

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _user_message(self, chat_id: int, options: ChatOptions) -> JSONDict:
        chat = self._ensure_chat(
            chat_id,
            options.get("chat_type"),
            options.get("chat_title"),
            options.get("is_forum"),
        )
        from_user = self._resolve_user(chat_id, options.get("user"))
        message: JSONDict = {
            "message_id": self._next_message_id(chat_id),
            "from": from_user,
            "chat": dict(chat),
            "date": int(time.time()),
        }
        thread_id = options.get("message_thread_id")
        reply_to = options.get("reply_to_message_id")
        reply: JSONDict | None = None
        if reply_to is not None:
            found = self._messages.get((chat_id, reply_to))
            if found is None:
                raise AssertionError(f"no message {reply_to} in chat {chat_id} to reply to")
            reply = {k: v for k, v in found.items() if k != "reply_to_message"}
            if thread_id is None and chat.get("is_forum"):
                thread_id = found.get("message_thread_id")
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            if chat.get("is_forum"):
                message["is_topic_message"] = True
        if reply is not None:
            message["reply_to_message"] = copy.deepcopy(reply)
        return message

    def _deliver(self, message: JSONDict, line: str, caption: str | None = None) -> JSONDict:
        if caption:
            message["caption"] = caption
            entities = detect_entities(caption)
            if entities:
                message["caption_entities"] = entities
            line = f"{line} {caption}"
        chat_id = int(message["chat"]["id"])
        self._messages[(chat_id, int(message["message_id"]))] = message
        self._log.setdefault(chat_id, []).append(_LogEntry("user", message["message_id"], line))
        self._enqueue({"message": copy.deepcopy(message)})
        return copy.deepcopy(message)

    def _deliver_media(
        self,
        chat_id: int,
        options: ChatOptions,
        kind: str,
        media: JSONDict | list[JSONDict],
        caption: str | None,
        media_group_id: str | None,
    ) -> JSONDict:
        message = self._user_message(chat_id, options)
        message[kind] = media
        if media_group_id is not None:
            message["media_group_id"] = media_group_id
        largest = media[-1] if isinstance(media, list) else media
        stored = self._files[largest["file_id"]]
        return self._deliver(message, self._media_line(kind, stored, None), caption)

    @staticmethod
    def _media_line(kind: str, stored: _StoredFile, caption: str | None) -> str:
        name = f" {stored.file_name}" if stored.file_name else ""
        line = f"[{kind.replace('_', ' ')}{name}, {_human_size(stored.size)}]"
        return f"{line} {caption}" if caption else line

    def _store_file(
        self,
        kind: str,
        content: bytes | None,
        file_name: str | None,
        mime_type: str | None,
        declared_size: int | None,
        *,
        source_path: Path | None = None,
    ) -> _StoredFile:
        file_id, unique_id = _new_file_id(kind)
        if declared_size is not None:
            size = declared_size
        elif content is not None:
            size = len(content)
        elif source_path is not None and source_path.exists():
            size = source_path.stat().st_size
        else:
            size = 0
        stored = _StoredFile(
            file_id=file_id,
            file_unique_id=unique_id,
            kind=kind,
            size=size,
            content=content,
            file_name=file_name,
            mime_type=mime_type,
            source_path=source_path,
        )
        self._files[file_id] = stored
        return stored

    @staticmethod
    def _file_object(stored: _StoredFile, **extra: int) -> JSONDict:
        obj: JSONDict = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        obj.update(extra)
        if stored.file_name:
            obj["file_name"] = stored.file_name
        if stored.mime_type:
            obj["mime_type"] = stored.mime_type
        obj["file_size"] = stored.size
        return obj

    def _photo_sizes(
        self, content: bytes | None, width: int, height: int, declared_size: int | None
    ) -> list[JSONDict]:
        sizes: list[JSONDict] = []
        biggest = max(width, height, 1)
        for side in (90, 320, 800):
            if side >= biggest:
                break
            w, h = max(1, width * side // biggest), max(1, height * side // biggest)
            thumb = self._store_file("photo", None, None, None, max(1, w * h // 8))
            sizes.append(
                {
                    "file_id": thumb.file_id,
                    "file_unique_id": thumb.file_unique_id,
                    "width": w,
                    "height": h,
                    "file_size": thumb.size,
                }
            )
        stored = self._store_file("photo", content, None, None, declared_size)
        sizes.append(
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": width,
                "height": height,
                "file_size": stored.size,
            }
        )
        return sizes

    def _enqueue(self, update: JSONDict) -> JSONDict:
        update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._notify()
        return update

    def _notify(self) -> None:
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _find_bot_message(self, chat_id: int, message_id: int) -> BotMessage | None:
        for message in self._bot_messages.get(chat_id, []):
            if message.message_id == message_id:
                return message
        return None

    def _describe_bot_message(self, message: BotMessage) -> str:
        parts: list[str] = []
        if message.kind != "text":
            name = ""
            size = ""
            if isinstance(message.file, UploadedFile):
                name = f" {message.file.filename}" if message.file.filename else ""
                size = f", {_human_size(message.file.size)}"
            elif isinstance(message.file, str):
                stored = self._files.get(message.file)
                if stored is not None:
                    name = f" {stored.file_name}" if stored.file_name else ""
                    size = f", {_human_size(stored.size)}"
                else:
                    name = f" {message.file}"
            parts.append(f"[{message.kind}{name}{size}]")
        if message.text:
            parts.append(message.text)
        labels = [str(b.get("text", "")) for b in message.buttons]
        if labels:
            parts.append("[" + " | ".join(labels) + "]")
        if message.edits:
            parts.append("(edited)")
        if message.deleted:
            parts.insert(0, "(deleted)")
        return " ".join(parts)

    def _webhook_init(self) -> None:
        self.webhook_secret: str | None = None
        self.webhook_allowed_updates: list[str] = []
        self.webhook_max_connections = 40
        # (update_id, HTTP status or 0 when unreachable) of every delivery attempt.
        self.webhook_deliveries: list[tuple[int, int]] = []
        self._webhook_last_error: str | None = None
        self._webhook_task: asyncio.Task[None] | None = None

