"""Bot API shapes for the fake Telegram: limits, verbatim error texts, records, decoding helpers."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, TypedDict, TypeVar

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
_T = TypeVar("_T")

MB: Final = 1024 * 1024
DEFAULT_TOKEN: Final = "123456:TEST-TOKEN"
BOT_USER_ID: Final = 1000000001
BOT_FIRST_NAME: Final = "RTK Compressor"
DEFAULT_UPLOAD_LIMIT: Final = 50 * MB
DEFAULT_DOWNLOAD_LIMIT: Final = 20 * MB
LOCAL_MODE_LIMIT: Final = 2000 * MB
REMOTE_ROOT: Final = "/var/lib/telegram-bot-api"
"""Where ``local_files_elsewhere`` pretends the server keeps its files (not on this machine)."""
MAX_TEXT_LENGTH: Final = 4096
MAX_CAPTION_LENGTH: Final = 1024
DEFAULT_GROUP_USER_ID: Final = 424242
ERR_BLOCKED: Final = "Forbidden: bot was blocked by the user"
ERR_KICKED: Final = "Forbidden: bot was kicked from the supergroup chat"
ERR_BAD_GATEWAY: Final = "Bad Gateway"
HTML_ERROR_PAGE: Final = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
STARTUP_METHODS: Final = frozenset(
    {"getme", "setmycommands", "deletewebhook", "getwebhookinfo", "logout", "close"}
)
"""Never given random faults: a bot that cannot start is the operator tests' subject."""

# Real Bot API error descriptions (verbatim, the bot may match on them).
ERR_UNAUTHORIZED: Final = "Unauthorized"
ERR_NOT_FOUND: Final = "Not Found"
ERR_TOO_LARGE: Final = "Request Entity Too Large"
ERR_TEXT_EMPTY: Final = "Bad Request: message text is empty"
ERR_TEXT_TOO_LONG: Final = "Bad Request: message is too long"
ERR_CAPTION_TOO_LONG: Final = "Bad Request: message caption is too long"
ERR_NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
ERR_EDIT_NOT_FOUND: Final = "Bad Request: message to edit not found"
ERR_DELETE_NOT_FOUND: Final = "Bad Request: message to delete not found"
ERR_CANT_EDIT: Final = "Bad Request: message can't be edited"
ERR_NO_TEXT_TO_EDIT: Final = "Bad Request: there is no text in the message to edit"
ERR_REPLY_NOT_FOUND: Final = "Bad Request: message to be replied not found"
ERR_FILE_TOO_BIG: Final = "Bad Request: file is too big"
ERR_INVALID_FILE_ID: Final = "Bad Request: invalid file_id"
ERR_WRONG_FILE: Final = "Bad Request: wrong file identifier/HTTP URL specified"
ERR_CHAT_NOT_FOUND: Final = "Bad Request: chat not found"
ERR_CHAT_ID_EMPTY: Final = "Bad Request: chat_id is empty"
ERR_MESSAGE_ID_INVALID: Final = "Bad Request: message identifier is not specified"
ERR_PARSE_ENTITIES: Final = "Bad Request: can't parse entities: "
ERR_MARKUP: Final = "Bad Request: can't parse reply keyboard markup JSON object"
ERR_QUERY_INVALID: Final = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
ERR_ACTION: Final = "Bad Request: wrong parameter action in request"
ERR_COMMAND_INVALID: Final = "Bad Request: BOT_COMMAND_INVALID"
ERR_COMMANDS_TOO_MUCH: Final = "Bad Request: BOT_COMMANDS_TOO_MUCH"
ERR_PRIVATE_ADMINS: Final = "Bad Request: there are no administrators in the private chat"
_ERR_BUTTON: Final = "Bad Request: can't parse inline keyboard button: "
ERR_CONFLICT: Final = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)

MessageKind = Literal["text", "video", "document", "photo", "animation"]

_CHAT_ACTIONS: Final = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Update types Telegram leaves out when allowed_updates is empty/unset.
_OPT_IN_UPDATES: Final = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Parameters that are plain strings even when they look like JSON (never json-decoded).
_RAW_STRING_PARAMS: Final = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "file_id",
        "url",
        "secret_token",
        "language_code",
        "data",
        "title",
        "performer",
        "file_name",
        "emoji",
        "address",
        "first_name",
        "last_name",
        "phone_number",
        "description",
        "short_description",
        "name",
        "action",
        "ip_address",
        "business_connection_id",
        "message_effect_id",
        "video",
        "document",
        "photo",
        "animation",
        "audio",
        "voice",
        "video_note",
        "sticker",
        "thumbnail",
        "cover",
    }
)
_FOLDERS: Final = {
    "video": "videos",
    "document": "documents",
    "photo": "photos",
    "animation": "animations",
    "audio": "music",
    "voice": "voice",
    "video_note": "video_notes",
    "sticker": "stickers",
    "thumbnail": "thumbnails",
}
_DEFAULT_EXT: Final = {
    "video": ".mp4",
    "document": "",
    "photo": ".jpg",
    "animation": ".mp4",
    "audio": ".mp3",
    "voice": ".oga",
    "video_note": ".mp4",
    "sticker": ".webp",
    "thumbnail": ".jpg",
}



# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadedFile:
    """A file the bot uploaded via multipart (content is kept by the fake, not here)."""

    filename: str | None
    content_type: str | None
    size: int


@dataclass
class ApiCall:
    """One Bot API request as the fake received it, for assertions.

    ``params`` are decoded: JSON-valued fields (reply_markup, entities, commands, scope, media,
    ...) are Python objects and numeric strings (chat_id, message_id, ...) are ints.
    ``error_code``/``description`` are set when the fake answered with an error.
    """

    method: str
    params: JSONDict
    files: dict[str, UploadedFile] = field(default_factory=dict)
    error_code: int | None = None
    description: str | None = None
    result: Any = None

    @property
    def chat_id(self) -> int | str | None:
        """The chat_id parameter, an int when numeric (``@channel`` names stay strings)."""
        value = self.params.get("chat_id")
        return _as_chat_id(value) if value is not None else None

    @property
    def ok(self) -> bool:
        """Whether the fake answered this call successfully."""
        return self.error_code is None


def int_chat_id(value: object) -> int | None:
    """Normalise a chat_id as sent over the wire (int or numeric string) to an int."""
    chat_id = _as_chat_id(value)
    return chat_id if isinstance(chat_id, int) else None


@dataclass
class BotMessage:
    """A message the bot sent, in its current state (edits and deletion applied).

    ``text`` is the visible text (or caption) after parse_mode processing; the raw request is
    in ``params``.  ``edits`` holds the previous visible texts, oldest first.
    """

    message_id: int
    chat_id: int
    message_thread_id: int | None
    kind: MessageKind
    text: str | None
    reply_markup: JSONDict | None
    edits: list[str] = field(default_factory=list)
    deleted: bool = False
    parse_mode: str | None = None
    file: UploadedFile | str | None = None
    supports_streaming: bool | None = None
    params: JSONDict = field(default_factory=dict)
    entities: list[JSONDict] = field(default_factory=list)
    file_id: str | None = None

    @property
    def buttons(self) -> list[JSONDict]:
        """All inline keyboard buttons of the message, row by row."""
        return _inline_buttons(self.reply_markup)


class ChatOptions(TypedDict, total=False):
    """Keyword arguments shared by the user-side ``send_*`` helpers.

    ``chat_type``/``chat_title``/``is_forum`` left out mean: keep what the chat already is,
    or for a new chat: ``private`` for positive ids, ``supergroup`` for negative ids.
    ``user`` is a user dict from :meth:`FakeTelegram.user` or a user id.
    """

    user: JSONDict | int | None
    chat_type: str | None
    message_thread_id: int | None
    reply_to_message_id: int | None
    chat_title: str | None
    is_forum: bool | None


# --------------------------------------------------------------------------------------------
# Internal records
# --------------------------------------------------------------------------------------------


class _ApiError(Exception):
    """Raised by method handlers; becomes an ``{"ok": false, ...}`` answer."""

    def __init__(
        self, error_code: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters


class _EntityParseError(Exception):
    """HTML could not be parsed the way Telegram parses it."""


@dataclass
class _Upload:
    filename: str | None
    content_type: str | None
    content: bytes


@dataclass
class _Request:
    method: str
    params: JSONDict
    uploads: dict[str, _Upload]
    call: ApiCall


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    kind: str
    size: int
    content: bytes | None
    file_name: str | None = None
    mime_type: str | None = None
    source_path: Path | None = None
    rel_path: str | None = None
    abs_path: Path | None = None


@dataclass
class _Failure:
    error_code: int
    description: str
    retry_after: int | None
    html: bool = False


@dataclass
class _LogEntry:
    who: Literal["user", "bot"]
    message_id: int | None
    line: str | None = None


_Handler = Callable[[_Request], Awaitable[Any]]




# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------


def _utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets and limits."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _as_chat_id(value: object) -> int | str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return text




def _inline_buttons(markup: JSONDict | None) -> list[JSONDict]:
    if not markup:
        return []
    rows = markup.get("inline_keyboard") or []
    return [button for row in rows if isinstance(row, list) for button in row]


def _human_size(size: int) -> str:
    if size >= MB:
        return f"{size / MB:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} B"


def _new_file_id(kind: str) -> tuple[str, str]:
    prefix = {"video": "BAAC", "document": "BQAC", "photo": "AgAC", "animation": "CgAC"}
    return prefix.get(kind, "AwAC") + secrets.token_urlsafe(30), "AgAD" + secrets.token_hex(6)


def _error_body(error_code: int, description: str, parameters: JSONDict | None) -> JSONDict:
    body: JSONDict = {"ok": False, "error_code": error_code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


def _decode_param(name: str, value: Any) -> Any:
    """Turn a wire value into a Python value: JSON-encoded fields decoded, numbers as ints."""
    if not isinstance(value, str) or name in _RAW_STRING_PARAMS:
        return value
    stripped = value.strip()
    if not stripped:
        return value
    try:
        decoded = json.loads(stripped)
    except ValueError:
        return value
    return value if isinstance(decoded, str) or decoded is None else decoded


def _int_param(params: JSONDict, name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value))
    except ValueError:
        raise _ApiError(400, f"Bad Request: invalid {name} specified") from None


def _bool_param(params: JSONDict, name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value)




def _inline_part(markup: JSONDict | None) -> Any:
    """The part of a reply markup a message keeps (only inline keyboards are stored)."""
    if not markup or "inline_keyboard" not in markup:
        return None
    return markup["inline_keyboard"]
