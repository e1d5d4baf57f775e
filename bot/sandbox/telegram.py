"""A fake Telegram Bot API server for tests and the ``demo`` command.

The fake is a real HTTP server on 127.0.0.1 (aiohttp), so the real python-telegram-bot
``Bot``/``Application`` talks to it exactly as it talks to api.telegram.org: requests are
decoded from JSON, urlencoded forms and multipart uploads, answers and errors carry the real
Bot API shapes and descriptions, and the real size/length limits are enforced.  Tests play
users (:meth:`FakeTelegram.send_text`, :meth:`FakeTelegram.press_button`, ...) and observe what
the bot did (:attr:`FakeTelegram.calls`, :meth:`FakeTelegram.messages`, ...).

Point an application at it with::

    ApplicationBuilder().token(fake.token)
        .base_url(f"{fake.url}/bot").base_file_url(f"{fake.url}/file/bot")

Everything runs in the caller's asyncio loop; there are no threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import mimetypes
import random
import re
import secrets
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, Self, TypedDict, TypeVar, Unpack
from urllib.parse import parse_qsl, unquote

from aiohttp import BodyPartReader, ClientError, ClientSession, ClientTimeout, web

__all__ = [
    "BOT_USER_ID",
    "DEFAULT_TOKEN",
    "ApiCall",
    "BotMessage",
    "ChatOptions",
    "FakeTelegram",
    "UploadedFile",
    "detect_entities",
    "int_chat_id",
    "parse_html",
    "parse_markdown_v2",
]

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


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


_COMMAND_RE: Final = re.compile(r"/([A-Za-z0-9_]{1,64})(@[A-Za-z0-9_]{3,32})?")
_MENTION_RE: Final = re.compile(r"@([A-Za-z0-9_]{2,32})")
_URL_RE: Final = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)


def detect_entities(text: str) -> list[JSONDict]:
    """Entities Telegram adds to a user's text: bot commands, @mentions and http(s) URLs.

    Offsets/lengths are in UTF-16 code units like Telegram's.
    """
    spans: list[tuple[int, int, str]] = []
    for match in _URL_RE.finditer(text):
        url = match.group(0).rstrip(".,;:!?)]}'\"")
        if len(url) > len("https://"):
            spans.append((match.start(), match.start() + len(url), "url"))

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e, _ in spans)

    for match in _COMMAND_RE.finditer(text):
        start, end = match.span()
        prev = text[start - 1] if start else ""
        nxt = text[end] if end < len(text) else ""
        if prev and (_is_word_char(prev) or prev in "/<>"):
            continue
        if nxt and (_is_word_char(nxt) or nxt in "/<>@"):
            continue
        if free(start, end):
            spans.append((start, end, "bot_command"))
    for match in _MENTION_RE.finditer(text):
        start, end = match.span()
        prev = text[start - 1] if start else ""
        nxt = text[end] if end < len(text) else ""
        if (prev and _is_word_char(prev)) or (nxt and _is_word_char(nxt)):
            continue
        if free(start, end):
            spans.append((start, end, "mention"))
    spans.sort()
    return [
        {
            "offset": _utf16_len(text[:start]),
            "length": _utf16_len(text[start:end]),
            "type": kind,
        }
        for start, end, kind in spans
    ]


_HTML_TAGS: Final = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_HTML_SPACE: Final = frozenset(" \t\r\n\v\0")
_SIMPLE_TAG_TYPES: Final = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_NAMED_HTML_ENTITIES: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _decode_html_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode ``&...;`` at ``pos`` the way Telegram does; None when it stays literal."""
    n = len(text)
    j = pos + 1
    if j < n and text[j] == "#":
        j += 1
        base = 10
        if j < n and text[j] in "xX":
            base = 16
            j += 1
        start = j
        digits = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
        while j < n and text[j] in digits:
            j += 1
        if j == start or j - pos >= 10:
            return None
        code = int(text[start:j], base)
        if code == 0 or code >= 0x10FFFF:
            return None
        char = chr(code)
    else:
        start = j
        while j < n and text[j].isascii() and text[j].isalpha():
            j += 1
        named = _NAMED_HTML_ENTITIES.get(text[start:j])
        if named is None:
            return None
        char = named
    if j < n and text[j] == ";":
        j += 1
    return char, j


def parse_html(html: str) -> tuple[str, list[JSONDict]]:
    """Parse Bot API HTML into (plain text, entities), mirroring Telegram's own parser.

    Raises ``ValueError`` with Telegram's error text (without the "can't parse entities"
    prefix) on markup Telegram rejects: unknown or unbalanced tags, bad attributes, ...
    """
    try:
        return _parse_html(html)
    except _EntityParseError as exc:
        raise ValueError(str(exc)) from None


def _parse_html(html: str) -> tuple[str, list[JSONDict]]:
    n = len(html)

    def ch(k: int) -> str:
        return html[k] if k < n else "\0"

    def boff(k: int) -> int:
        return len(html[:k].encode("utf-8", "surrogatepass"))

    out: list[str] = []
    utf16 = 0
    nested: list[tuple[str, str, int, int]] = []  # tag, argument, utf16 offset, out index
    entities: list[JSONDict] = []
    i = 0
    while i < n:
        c = html[i]
        if c == "&":
            decoded = _decode_html_entity(html, i)
            if decoded is not None:
                char, i = decoded
                out.append(char)
                utf16 += _utf16_len(char)
                continue
        if c != "<":
            out.append(c)
            utf16 += _utf16_len(c)
            i += 1
            continue
        begin = i
        i += 1
        if ch(i) != "/":
            while ch(i) not in _HTML_SPACE and ch(i) != ">":
                i += 1
            if i >= n:
                raise _EntityParseError(f"Unclosed start tag at byte offset {boff(begin)}")
            tag = html[begin + 1 : i].lower()
            if tag not in _HTML_TAGS:
                raise _EntityParseError(
                    f'Unsupported start tag "{tag}" at byte offset {boff(begin)}'
                )
            argument = ""
            while ch(i) != ">":
                while i < n and ch(i) in _HTML_SPACE:
                    i += 1
                if ch(i) == ">":
                    break
                attr_begin = i
                while ch(i) not in _HTML_SPACE and ch(i) != "=":
                    i += 1
                attr_name = html[attr_begin:i]
                if not attr_name:
                    raise _EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {boff(begin)}'
                    )
                while i < n and ch(i) in _HTML_SPACE:
                    i += 1
                if ch(i) != "=":
                    if tag == "blockquote" and attr_name.lower().rstrip(">") == "expandable":
                        if attr_name.endswith(">"):
                            i -= 1
                        argument = "expandable"
                        continue
                    raise _EntityParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {boff(begin)}'
                    )
                i += 1
                while i < n and ch(i) in _HTML_SPACE:
                    i += 1
                if i >= n:
                    raise _EntityParseError(
                        f'Unclosed start tag "{tag}" at byte offset {boff(begin)}'
                    )
                if ch(i) not in "'\"":
                    token_begin = i
                    while (ch(i).isascii() and ch(i).isalnum()) or ch(i) in ".-":
                        i += 1
                    value = html[token_begin:i].lower()
                    if ch(i) not in _HTML_SPACE and ch(i) != ">":
                        raise _EntityParseError(
                            f"Unexpected end of name token at byte offset {boff(token_begin)}"
                        )
                else:
                    quote = ch(i)
                    i += 1
                    buf: list[str] = []
                    while i < n and ch(i) != quote:
                        if ch(i) == "&":
                            decoded = _decode_html_entity(html, i)
                            if decoded is not None:
                                buf.append(decoded[0])
                                i = decoded[1]
                                continue
                        buf.append(ch(i))
                        i += 1
                    if ch(i) == quote:
                        i += 1
                    value = "".join(buf)
                if i >= n:
                    raise _EntityParseError(f"Unclosed start tag at byte offset {boff(begin)}")
                name = attr_name.lower()
                if tag == "a" and name == "href":
                    argument = value
                elif tag == "code" and name == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and name == "class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]
                elif tag == "tg-emoji" and name == "emoji-id":
                    argument = value
            if tag == "span" and argument != "spoiler":
                raise _EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {boff(begin)}'
                )
            nested.append((tag, argument, utf16, len(out)))
            i += 1
            continue
        # An end tag.
        if not nested:
            raise _EntityParseError(f"Unexpected end tag at byte offset {boff(begin)}")
        while ch(i) not in _HTML_SPACE and ch(i) != ">":
            i += 1
        end_tag = html[begin + 2 : i].lower()
        while i < n and ch(i) in _HTML_SPACE:
            i += 1
        if ch(i) != ">":
            raise _EntityParseError(f"Unclosed end tag at byte offset {boff(begin)}")
        tag, argument, offset, out_pos = nested.pop()
        if end_tag and end_tag != tag:
            raise _EntityParseError(
                f"Unmatched end tag at byte offset {boff(begin)}, "
                f'expected "</{tag}>", found "</{end_tag}>"'
            )
        if utf16 > offset:
            _close_html_entity(entities, tag, argument, offset, utf16 - offset, out[out_pos:])
        i += 1
    if nested:
        raise _EntityParseError(f"Can't find end tag corresponding to start tag {nested[-1][0]}")
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


_MDV2_RESERVED: Final = frozenset("_*[]()~`>#+-=|{}.!\n")
_MD_NAMES: Final = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "pre_code": "PreCode",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "blockquote": "BlockQuote",
}


def parse_markdown_v2(text: str) -> tuple[str, list[JSONDict]]:
    """Parse Bot API MarkdownV2 into (plain text, entities), mirroring Telegram's parser.

    Raises ``ValueError`` with Telegram's error text, e.g. for an unescaped reserved character.
    """
    try:
        return _parse_markdown_v2(text)
    except _EntityParseError as exc:
        raise ValueError(str(exc)) from None


def _link_entity(url: str, base: JSONDict) -> JSONDict | None:
    match = re.fullmatch(r"tg://user\?id=(\d+)", url)
    if match:
        user = {"id": int(match.group(1)), "is_bot": False, "first_name": ""}
        return {"type": "text_mention", **base, "user": user}
    if url:
        return {"type": "text_link", **base, "url": url}
    return None


def _parse_markdown_v2(src: str) -> tuple[str, list[JSONDict]]:
    n = len(src)

    def ch(k: int) -> str:
        return src[k] if k < n else "\0"

    def boff(k: int) -> int:
        return len(src[:k].encode("utf-8", "surrogatepass"))

    def escapable(k: int) -> bool:
        return 0 < ord(ch(k)) <= 126

    def reserved_error(char: str) -> _EntityParseError:
        return _EntityParseError(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )

    def read_url(k: int) -> tuple[str, int]:
        url: list[str] = []
        while k < n and src[k] != ")":
            if src[k] == "\\" and escapable(k + 1):
                url.append(src[k + 1])
                k += 2
                continue
            url.append(src[k])
            k += 1
        return "".join(url), k

    out: list[str] = []
    utf16 = 0
    # type, argument, utf16 offset, byte offset of the opening mark, out index
    nested: list[tuple[str, str, int, int, int]] = []
    entities: list[JSONDict] = []
    have_blockquote = False
    i = 0
    while i < n:
        c = src[i]
        if c == "\\" and escapable(i + 1):
            out.append(src[i + 1])
            utf16 += 1
            i += 2
            continue
        in_code = bool(nested) and nested[-1][0] in ("code", "pre", "pre_code")
        if c not in ("`" if in_code else _MDV2_RESERVED):
            out.append(c)
            utf16 += _utf16_len(c)
            i += 1
            continue
        is_end = False
        if nested:
            kind = nested[-1][0]
            if have_blockquote and c == "\n" and (i + 1 == n or src[i + 1] != ">"):
                is_end = True
            elif kind == "bold":
                is_end = c == "*"
            elif kind == "italic":
                is_end = c == "_" and ch(i + 1) != "_"
            elif kind == "code":
                is_end = c == "`"
            elif kind in ("pre", "pre_code"):
                is_end = c == "`" and ch(i + 1) == "`" and ch(i + 2) == "`"
            elif kind in ("text_link", "custom_emoji"):
                is_end = c == "]"
            elif kind == "underline":
                is_end = c == "_" and ch(i + 1) == "_"
            elif kind == "strikethrough":
                is_end = c == "~"
            elif kind == "spoiler":
                is_end = c == "|" and ch(i + 1) == "|"
        if not is_end:
            byte_offset = boff(i)
            argument = ""
            kind_opt: str | None
            if c == "_":
                kind_opt = "italic"
                if ch(i + 1) == "_":
                    kind_opt = "underline"
                    i += 1
            elif c == "*":
                kind_opt = "bold"
            elif c == "~":
                kind_opt = "strikethrough"
            elif c == "|":
                if ch(i + 1) != "|":
                    raise reserved_error(c)
                i += 1
                kind_opt = "spoiler"
            elif c == "[":
                kind_opt = "text_link"
            elif c == "`":
                if ch(i + 1) == "`" and ch(i + 2) == "`":
                    i += 3
                    kind_opt = "pre"
                    lang_end = i
                    while ch(lang_end) not in _HTML_SPACE and ch(lang_end) != "`":
                        lang_end += 1
                    if i != lang_end and lang_end < n and ch(lang_end) != "`":
                        kind_opt = "pre_code"
                        argument = src[i:lang_end]
                        i = lang_end
                    if ch(i) in "\n\r":
                        if ch(i + 1) in "\n\r" and ch(i) != ch(i + 1):
                            i += 2
                        else:
                            i += 1
                    i -= 1
                else:
                    kind_opt = "code"
            elif c == "!":
                if ch(i + 1) != "[":
                    raise reserved_error(c)
                i += 1
                kind_opt = "custom_emoji"
            elif c == "\n":
                utf16 += 1
                out.append("\n")
                kind_opt = None
                if i + 1 < n and src[i + 1] == ">":
                    i += 1
                    if not have_blockquote:
                        kind_opt = "blockquote"
                        have_blockquote = True
            elif c == ">" and i == 0:
                kind_opt = "blockquote"
                have_blockquote = True
            else:
                raise reserved_error(c)
            if kind_opt is not None:
                nested.append((kind_opt, argument, utf16, byte_offset, len(out)))
            i += 1
            continue
        # The end of an entity.
        kind, argument, offset, byte_offset, out_pos = nested[-1]
        if c == "\n" and kind != "blockquote":
            raise _EntityParseError(
                f"Can't find end of {_MD_NAMES[kind]} entity at byte offset {byte_offset}"
            )
        skip = utf16 == offset
        base: JSONDict = {"offset": offset, "length": utf16 - offset}
        entity: JSONDict | None = {"type": kind, **base}
        if kind in ("underline", "spoiler"):
            i += 1
        elif kind in ("pre", "pre_code"):
            i += 2
            entity = {"type": "pre", **base}
            if kind == "pre_code":
                entity["language"] = argument
        elif kind == "text_link":
            if ch(i + 1) != "(":
                url = "".join(out[out_pos:])
            else:
                url_begin = i + 2
                url, i = read_url(url_begin)
                if ch(i) != ")":
                    raise _EntityParseError(
                        f"Can't find end of a URL at byte offset {boff(url_begin)}"
                    )
            entity = _link_entity(url, base)
        elif kind == "custom_emoji":
            if ch(i + 1) != "(":
                raise _EntityParseError("Custom emoji entity must contain a tg://emoji URL")
            url_begin = i + 2
            url, i = read_url(url_begin)
            if ch(i) != ")":
                raise _EntityParseError(
                    f"Can't find end of a custom emoji URL at byte offset {boff(url_begin)}"
                )
            match = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
            if not match or int(match.group(1)) == 0:
                raise _EntityParseError("Invalid custom emoji identifier specified")
            entity = {"type": "custom_emoji", **base, "custom_emoji_id": match.group(1)}
        elif kind == "blockquote":
            have_blockquote = False
            out.append(c)
            utf16 += 1
        if not skip and entity is not None:
            entities.append(entity)
        nested.pop()
        i += 1
    if have_blockquote and nested and nested[-1][0] == "blockquote":
        offset = nested.pop()[2]
        if utf16 > offset:
            entities.append({"type": "blockquote", "offset": offset, "length": utf16 - offset})
    if nested:
        kind, _, _, byte_offset, _ = nested[-1]
        raise _EntityParseError(
            f"Can't find end of {_MD_NAMES[kind]} entity at byte offset {byte_offset}"
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _parse_markdown(src: str) -> tuple[str, list[JSONDict]]:
    """Legacy ``Markdown`` parse mode, mirroring Telegram's parser."""
    n = len(src)

    def ch(k: int) -> str:
        return src[k] if k < n else "\0"

    out: list[str] = []
    utf16 = 0
    entities: list[JSONDict] = []
    i = 0
    while i < n:
        c = src[i]
        if c == "\\" and ch(i + 1) in "_*`[":
            out.append(src[i + 1])
            utf16 += 1
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            utf16 += _utf16_len(c)
            i += 1
            continue
        begin = i
        end_char = "]" if c == "[" else c
        is_pre = False
        language = ""
        i += 1
        if c == "`" and ch(i) == "`" and ch(i + 1) == "`":
            i += 2
            is_pre = True
            lang_end = i
            while ch(lang_end) not in _HTML_SPACE and ch(lang_end) != "`":
                lang_end += 1
            if i != lang_end and lang_end < n and ch(lang_end) != "`":
                language = src[i:lang_end]
                i = lang_end
            if ch(i) in "\n\r":
                i += 2 if ch(i + 1) in "\n\r" and ch(i) != ch(i + 1) else 1
        offset = utf16
        out_pos = len(out)
        while i < n and (
            src[i] != end_char or (is_pre and not (ch(i + 1) == "`" and ch(i + 2) == "`"))
        ):
            out.append(src[i])
            utf16 += _utf16_len(src[i])
            i += 1
        if i >= n:
            byte_offset = len(src[:begin].encode("utf-8", "surrogatepass"))
            raise _EntityParseError(
                f"Can't find end of the entity starting at byte offset {byte_offset}"
            )
        if utf16 > offset:
            base: JSONDict = {"offset": offset, "length": utf16 - offset}
            if c == "_":
                entities.append({"type": "italic", **base})
            elif c == "*":
                entities.append({"type": "bold", **base})
            elif c == "[":
                if ch(i + 1) != "(":
                    url = "".join(out[out_pos:])
                else:
                    i += 2
                    url_chars: list[str] = []
                    while i < n and src[i] != ")":
                        url_chars.append(src[i])
                        i += 1
                    url = "".join(url_chars)
                link = _link_entity(url, base)
                if link is not None:
                    entities.append(link)
            elif is_pre:
                entity: JSONDict = {"type": "pre", **base}
                if language:
                    entity["language"] = language
                entities.append(entity)
            else:
                entities.append({"type": "code", **base})
        if is_pre:
            i += 2
        i += 1
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_html_entity(
    entities: list[JSONDict],
    tag: str,
    argument: str,
    offset: int,
    length: int,
    inner: list[str],
) -> None:
    base: JSONDict = {"offset": offset, "length": length}
    last = entities[-1] if entities else None
    same_range = last is not None and last["offset"] == offset and last["length"] == length
    if tag in _SIMPLE_TAG_TYPES:
        entities.append({"type": _SIMPLE_TAG_TYPES[tag], **base})
    elif tag == "tg-emoji":
        if not argument.isdigit() or int(argument) == 0:
            raise _EntityParseError("Invalid custom emoji identifier specified")
        entities.append({"type": "custom_emoji", **base, "custom_emoji_id": argument})
    elif tag == "a":
        link = _link_entity(argument or "".join(inner), base)
        if link is not None:
            entities.append(link)
    elif tag == "pre":
        if last is not None and same_range and last["type"] == "code" and last.get("language"):
            last["type"] = "pre"
        else:
            entities.append({"type": "pre", **base})
    elif tag == "code":
        if last is not None and same_range and last["type"] == "pre" and argument:
            last["language"] = argument
        else:
            entity: JSONDict = {"type": "code", **base}
            if argument:
                entity["language"] = argument
            entities.append(entity)
    elif tag == "blockquote":
        kind = "expandable_blockquote" if argument == "expandable" else "blockquote"
        entities.append({"type": kind, **base})


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


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class FakeTelegram:
    """An in-process Telegram Bot API server that tests drive and inspect.

    ``upload_limit``/``download_limit`` default to Telegram's 50 MB / 20 MB, or to 2000 MB each
    with ``local_mode=True`` (like a local Bot API server, which also answers getFile with an
    absolute path to a real file on disk).  Chats the bot writes to without a user having
    written first are created on the fly (private for positive ids, supergroup for negative).
    """

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
        self.url = ""
        self.calls: list[ApiCall] = []
        self.callback_answers: dict[str, JSONDict] = {}
        self.webhook_url = ""
        self.menu_buttons: dict[int | None, JSONDict] = {}
        self.bot_texts: dict[str, dict[str, str]] = {}
        self.server_errors: list[BaseException] = []
        self.file_downloads = 0
        """Files fetched over HTTP from /file/bot<token>/..."""
        self._webhook_init()

        self._runner: web.AppRunner | None = None
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
        self.fault_rate = 0.0
        self.blocked_chats: set[int] = set()
        self.faults_injected: Counter[str] = Counter()
        self._fault_random = random.Random(0)
        self._handlers: dict[str, tuple[str, _Handler]] = {}
        self._register_handlers()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and serve; sets :attr:`url`."""
        app = web.Application(client_max_size=max(self.upload_limit, 64 * MB) + MB)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._stopping = False

    async def stop(self) -> None:
        """Stop serving; pending getUpdates long polls are answered at once so this is quick."""
        self._stopping = True
        self._notify()
        await self._webhook_stop()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            # Let the woken long polls answer before the connections are closed (on a busy
            # machine one loop iteration is not enough).
            for _ in range(100):
                if not self._polls:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.01)
            await runner.cleanup()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Value for ``ApplicationBuilder().base_url(...)``."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for ``ApplicationBuilder().base_file_url(...)``."""
        return f"{self.url}/file/bot"

    # -- test switches -----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        *,
        html: bool = False,
    ) -> None:
        """Make the next call of ``method`` fail with this error (calls queue up).

        ``method="file"`` fails the next file download; ``html=True`` answers with a proxy's
        HTML error page (status ``error_code``) instead of the Bot API's JSON."""
        failure = _Failure(error_code, description, retry_after, html)
        self._failures.setdefault(method.lower(), []).append(failure)

    def stall_next(self, method: str, seconds: float) -> None:
        """Carry out the next call of ``method`` but answer only after ``seconds``, as Telegram
        does after a large upload: past the client's read timeout the bot sees ``TimedOut``
        although the message was sent."""
        self._stalls.setdefault(method.lower(), []).append(seconds)

    def inject_faults(
        self, rate: float, *, seed: int = 0, blocked_chats: Iterable[int] = ()
    ) -> None:
        """From now on fail a seeded random ``rate`` of calls (any method but startup ones,
        file downloads included) the way Telegram and its proxies fail: 429 with retry_after,
        a JSON 5xx, an nginx HTML error page. Calls that write to ``blocked_chats`` get 403
        (blocked by the user / kicked from the group). :attr:`faults_injected` counts each."""
        self.fault_rate = rate
        self._fault_random = random.Random(seed)
        self.blocked_chats = set(blocked_chats)

    def _random_fault(self, method: str, chat_id: int | None) -> web.Response | None:
        """The fault to answer this call with, if one is due (see :meth:`inject_faults`)."""
        if chat_id is not None and chat_id in self.blocked_chats and method != "getchat":
            self.faults_injected["403"] += 1
            description = ERR_BLOCKED if chat_id > 0 else ERR_KICKED
            return web.json_response(_error_body(403, description, None), status=403)
        if method in STARTUP_METHODS or self._fault_random.random() >= self.fault_rate:
            return None
        kind = self._fault_random.choice(("429", "5xx", "html"))
        self.faults_injected[kind] += 1
        if kind == "429":
            body = _error_body(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            return web.json_response(body, status=429)
        if kind == "5xx":
            return web.json_response(_error_body(502, ERR_BAD_GATEWAY, None), status=502)
        return web.Response(status=502, text=HTML_ERROR_PAGE, content_type="text/html")

    # -- playing users -----------------------------------------------------------------------

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

    # -- HTTP layer --------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        wire_method = request.match_info["method"]
        name, handler = self._handlers.get(wire_method.lower(), (wire_method, None))
        call = ApiCall(method=name, params={})
        try:
            params, uploads = await self._decode_request(request)
        except _ApiError as exc:
            self.calls.append(call)
            return self._error(call, exc)
        call.params = params
        call.files = {
            key: UploadedFile(up.filename, up.content_type, len(up.content))
            for key, up in uploads.items()
        }
        self.calls.append(call)
        if token != self.token:
            return self._error(call, _ApiError(401, ERR_UNAUTHORIZED))
        if handler is None:
            return self._error(call, _ApiError(404, ERR_NOT_FOUND))
        failures = self._failures.get(name.lower())
        if failures:
            failure = failures.pop(0)
            if failure.html:
                call.error_code, call.description = failure.error_code, "HTML page"
                return web.Response(status=failure.error_code, text=HTML_ERROR_PAGE,
                                    content_type="text/html")
            extra = None
            if failure.retry_after is not None:
                extra = {"retry_after": failure.retry_after}
            return self._error(call, _ApiError(failure.error_code, failure.description, extra))
        if self.fault_rate or self.blocked_chats:
            fault = self._random_fault(name.lower(), int_chat_id(params.get("chat_id")))
            if fault is not None:
                call.error_code = fault.status
                call.description = "injected fault"
                return fault
        try:
            result = await handler(_Request(name, params, uploads, call))
        except _ApiError as exc:
            return self._error(call, exc)
        except Exception as exc:
            log.exception("fake Telegram failed handling %s", name)
            self.server_errors.append(exc)
            return self._error(call, _ApiError(500, f"Internal Server Error: {exc!r}"))
        call.result = result
        stalls = self._stalls.get(name.lower())
        if stalls:
            await asyncio.sleep(stalls.pop(0))  # done, but the answer comes late
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(call: ApiCall, exc: _ApiError) -> web.Response:
        call.error_code = exc.error_code
        call.description = exc.description
        body = _error_body(exc.error_code, exc.description, exc.parameters)
        return web.json_response(body, status=exc.error_code)

    async def _decode_request(self, request: web.Request) -> tuple[JSONDict, dict[str, _Upload]]:
        """Decode query string, JSON, urlencoded and multipart bodies as Telegram does."""
        raw: JSONDict = dict(request.query)
        uploads: dict[str, _Upload] = {}
        content_type = request.content_type
        if content_type == "multipart/form-data":
            too_large = False
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                if part.filename is None:
                    data = await part.read(decode=True)
                    raw[part.name or ""] = bytes(data).decode("utf-8", "replace")
                    continue
                chunks: list[bytes] = []
                size = 0
                while chunk := await part.read_chunk(256 * 1024):
                    size += len(chunk)
                    if size > self.upload_limit:
                        too_large = True
                        chunks.clear()
                    elif not too_large:
                        chunks.append(chunk)
                uploads[part.name or ""] = _Upload(
                    filename=part.filename,
                    content_type=part.headers.get("Content-Type"),
                    content=b"".join(chunks),
                )
            if too_large:
                raise _ApiError(413, ERR_TOO_LARGE)
        elif request.body_exists:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                raise _ApiError(413, ERR_TOO_LARGE) from None
            if content_type == "application/json":
                if body.strip():
                    try:
                        decoded = json.loads(body)
                    except ValueError:
                        raise _ApiError(400, "Bad Request: can't parse JSON") from None
                    if not isinstance(decoded, dict):
                        raise _ApiError(400, "Bad Request: JSON object expected") from None
                    raw.update(decoded)
            else:
                text = body.decode("utf-8", "replace")
                raw.update(parse_qsl(text, keep_blank_values=True))
        params = {key: _decode_param(key, value) for key, value in raw.items()}
        if "chat_id" in params:
            params["chat_id"] = _as_chat_id(params["chat_id"])
        return params, uploads

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            body = _error_body(401, ERR_UNAUTHORIZED, None)
            return web.json_response(body, status=401)
        self.file_downloads += 1
        if failures := self._failures.get("file"):
            failure = failures.pop(0)
            if failure.html:
                return web.Response(status=failure.error_code, text=HTML_ERROR_PAGE,
                                    content_type="text/html")
            extra = {"retry_after": failure.retry_after} if failure.retry_after else None
            body = _error_body(failure.error_code, failure.description, extra)
            return web.json_response(body, status=failure.error_code)
        if self.fault_rate and (fault := self._random_fault("file", None)) is not None:
            return fault
        path = unquote(request.match_info["path"])
        stored = self._file_paths.get(path) or self._file_paths.get("/" + path.lstrip("/"))
        if stored is None:
            return web.json_response(_error_body(404, ERR_NOT_FOUND, None), status=404)
        if stored.source_path is not None and stored.source_path.exists():
            return web.FileResponse(stored.source_path)
        head = (stored.content or b"")[: stored.size]
        if len(head) == stored.size:
            return web.Response(body=head, content_type="application/octet-stream")
        # A declared_size file: its bytes, then zeros up to the claimed size.
        response = web.StreamResponse()
        response.content_length = stored.size
        response.content_type = "application/octet-stream"
        await response.prepare(request)
        await response.write(head)
        remaining = stored.size - len(head)
        zeros = bytes(min(remaining, MB))
        while remaining > 0:
            step = min(remaining, len(zeros))
            await response.write(zeros[:step])
            remaining -= step
        await response.write_eof()
        return response

    # -- method handlers ---------------------------------------------------------------------

    def _register_handlers(self) -> None:
        table: dict[str, _Handler] = {
            "getMe": self._m_get_me,
            "logOut": self._m_ok,
            "close": self._m_ok,
            "setWebhook": self._m_set_webhook,
            "deleteWebhook": self._m_delete_webhook,
            "getWebhookInfo": self._m_get_webhook_info,
            "getUpdates": self._m_get_updates,
            "sendMessage": self._m_send_message,
            "editMessageText": self._m_edit_message_text,
            "editMessageCaption": self._m_edit_message_caption,
            "editMessageReplyMarkup": self._m_edit_message_reply_markup,
            "deleteMessage": self._m_delete_message,
            "deleteMessages": self._m_delete_messages,
            "sendChatAction": self._m_send_chat_action,
            "setMyCommands": self._m_set_my_commands,
            "getMyCommands": self._m_get_my_commands,
            "deleteMyCommands": self._m_delete_my_commands,
            "answerCallbackQuery": self._m_answer_callback_query,
            "getFile": self._m_get_file,
            "sendVideo": self._m_send_video,
            "sendDocument": self._m_send_document,
            "sendPhoto": self._m_send_photo,
            "sendAnimation": self._m_send_animation,
            "getChat": self._m_get_chat,
            "getChatMember": self._m_get_chat_member,
            "getChatAdministrators": self._m_get_chat_administrators,
            "setChatMenuButton": self._m_set_chat_menu_button,
            "getChatMenuButton": self._m_get_chat_menu_button,
            "setMyDescription": self._m_set_bot_text("description"),
            "setMyShortDescription": self._m_set_bot_text("short_description"),
            "setMyName": self._m_set_bot_text("name"),
        }
        self._handlers = {name.lower(): (name, handler) for name, handler in table.items()}

    async def _m_ok(self, req: _Request) -> bool:
        return True

    async def _m_get_me(self, req: _Request) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_set_webhook(self, req: _Request) -> bool:
        self.webhook_url = str(req.params.get("url") or "")
        if _bool_param(req.params, "drop_pending_updates"):
            self._updates.clear()
        self._webhook_configure(req.params)
        return True

    async def _m_delete_webhook(self, req: _Request) -> bool:
        self.webhook_url = ""
        if _bool_param(req.params, "drop_pending_updates"):
            self._updates.clear()
        await self._webhook_stop()
        return True

    async def _m_get_webhook_info(self, req: _Request) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        return self._webhook_info(info)

    # ---- webhook delivery (like Telegram: POST each update, in order, until answered 2xx)

    def _webhook_init(self) -> None:
        self.webhook_secret: str | None = None
        self.webhook_allowed_updates: list[str] = []
        # (update_id, HTTP status or 0 when unreachable) of every delivery attempt.
        self.webhook_deliveries: list[tuple[int, int]] = []
        self._webhook_last_error: str | None = None
        self._webhook_task: asyncio.Task[None] | None = None

    def _webhook_configure(self, params: JSONDict) -> None:
        secret = params.get("secret_token")
        self.webhook_secret = str(secret) if secret else None
        allowed = params.get("allowed_updates")
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
            self.webhook_allowed_updates = list(self._allowed_updates)
        if self.webhook_url and (self._webhook_task is None or self._webhook_task.done()):
            self._webhook_task = asyncio.create_task(self._webhook_push(), name="fake-webhook")
        self._notify()

    async def _webhook_stop(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _webhook_info(self, info: JSONDict) -> JSONDict:
        if self._webhook_last_error:
            info["last_error_message"] = self._webhook_last_error
            info["last_error_date"] = int(time.time())
        if self.webhook_allowed_updates:
            info["allowed_updates"] = list(self.webhook_allowed_updates)
        return info

    async def _webhook_push(self) -> None:
        """Deliver queued updates one by one; a refused one is retried (as Telegram does)."""
        async with ClientSession(timeout=ClientTimeout(total=60)) as session:
            while self.webhook_url and not self._stopping:
                self._updates = [u for u in self._updates if self._update_allowed(u)]
                if not self._updates:
                    wakeup = self._wakeup
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wakeup.wait(), 1.0)
                    continue
                update = self._updates[0]
                headers = {"Content-Type": "application/json"}
                if self.webhook_secret:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
                try:
                    async with session.post(self.webhook_url, data=json.dumps(update),
                                            headers=headers) as response:
                        status = response.status
                except (ClientError, TimeoutError) as exc:
                    status, self._webhook_last_error = 0, f"Connection failed: {exc}"
                self.webhook_deliveries.append((int(update["update_id"]), status))
                if 200 <= status < 300:
                    if self._updates and self._updates[0] is update:
                        self._updates.pop(0)
                    self._webhook_last_error = None
                else:
                    if status:
                        self._webhook_last_error = f"Wrong response from the webhook: {status}"
                    await asyncio.sleep(0.1)

    def _update_allowed(self, update: JSONDict) -> bool:
        kinds = [k for k in update if k != "update_id"]
        if not kinds:
            return True
        if self._allowed_updates:
            return kinds[0] in self._allowed_updates
        return kinds[0] not in _OPT_IN_UPDATES

    async def _m_get_updates(self, req: _Request) -> list[JSONDict]:
        self._polls += 1
        try:
            return await self._get_updates(req)
        finally:
            self._polls -= 1

    async def _get_updates(self, req: _Request) -> list[JSONDict]:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int_param(req.params, "offset")
        limit = min(max(_int_param(req.params, "limit") or 100, 1), 100)
        timeout = max(_int_param(req.params, "timeout") or 0, 0)
        allowed = req.params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
        if offset is not None:
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # a newer getUpdates terminates an older pending one
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._stopping:
                return []
            self._updates = [u for u in self._updates if self._update_allowed(u)]
            if self._updates:
                return copy.deepcopy(self._updates[:limit])
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            wakeup = self._wakeup
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), remaining)
            if generation != self._poll_generation and not self._stopping:
                raise _ApiError(409, ERR_CONFLICT)

    # ---- sending / editing

    def _chat_from_params(self, params: JSONDict) -> JSONDict:
        value = params.get("chat_id")
        if value is None or value == "":
            raise _ApiError(400, ERR_CHAT_ID_EMPTY)
        chat_id = _as_chat_id(value)
        if not isinstance(chat_id, int):
            known = [
                c
                for c in self._chats.values()
                if isinstance(chat_id, str) and c.get("username") == chat_id.lstrip("@")
            ]
            if not known:
                raise _ApiError(400, ERR_CHAT_NOT_FOUND)
            return known[0]
        return self._ensure_chat(chat_id)

    @staticmethod
    def _parse_markup(params: JSONDict) -> JSONDict | None:
        markup = params.get("reply_markup")
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise _ApiError(400, ERR_MARKUP)
        for row in markup.get("inline_keyboard", []):
            if not isinstance(row, list):
                raise _ApiError(400, 'Bad Request: field "inline_keyboard" must be an Array')
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise _ApiError(400, _ERR_BUTTON + 'Field "text" must be of type String')
                if not set(button) - {"text"}:
                    raise _ApiError(
                        400, _ERR_BUTTON + "Text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and len(str(data).encode()) > 64:
                    raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    @staticmethod
    def _format(text: str, parse_mode: str | None, entities: Any) -> tuple[str, list[JSONDict]]:
        """Apply parse_mode like Telegram: visible text plus entities."""
        if isinstance(entities, list) and entities:
            return text, [e for e in entities if isinstance(e, dict)]
        parsers = {
            "html": _parse_html,
            "markdownv2": _parse_markdown_v2,
            "markdown": _parse_markdown,
        }
        parser = parsers.get((parse_mode or "").lower())
        if parser is None:
            if parse_mode:
                raise _ApiError(400, "Bad Request: unsupported parse_mode")
            return text, []
        try:
            return parser(text)
        except _EntityParseError as exc:
            raise _ApiError(400, ERR_PARSE_ENTITIES + str(exc)) from None

    def _check_text(self, text: str) -> None:
        if not text.strip():
            raise _ApiError(400, ERR_TEXT_EMPTY)
        if _utf16_len(text) > MAX_TEXT_LENGTH:
            raise _ApiError(400, ERR_TEXT_TOO_LONG)

    def _reply_target(self, chat_id: int, params: JSONDict) -> JSONDict | None:
        reply_params = params.get("reply_parameters")
        allow_missing = bool(_bool_param(params, "allow_sending_without_reply"))
        reply_id: int | None = None
        if isinstance(reply_params, dict):
            reply_id = _int_param(reply_params, "message_id")
            allow_missing = allow_missing or bool(
                _bool_param(reply_params, "allow_sending_without_reply")
            )
        if reply_id is None:
            reply_id = _int_param(params, "reply_to_message_id")
        if reply_id is None:
            return None
        found = self._messages.get((chat_id, reply_id))
        if found is None or (chat_id, reply_id) in self._deleted:
            if allow_missing:
                return None
            raise _ApiError(400, ERR_REPLY_NOT_FOUND)
        return {k: v for k, v in found.items() if k != "reply_to_message"}

    def _new_bot_message(
        self,
        req: _Request,
        kind: MessageKind,
        text: str,
        entities: list[JSONDict],
        body: JSONDict,
        *,
        file: UploadedFile | str | None = None,
        file_id: str | None = None,
    ) -> JSONDict:
        params = req.params
        chat = self._chat_from_params(params)
        chat_id = int(chat["id"])
        reply = self._reply_target(chat_id, params)
        markup = self._parse_markup(params)
        thread_id = _int_param(params, "message_thread_id")
        message_id = self._next_message_id(chat_id)
        message: JSONDict = {
            "message_id": message_id,
            "from": dict(self.bot_user),
            "chat": dict(chat),
            "date": int(time.time()),
        }
        if thread_id is not None and chat["type"] != "private":
            message["message_thread_id"] = thread_id
            if chat.get("is_forum"):
                message["is_topic_message"] = True
        if reply is not None:
            message["reply_to_message"] = copy.deepcopy(reply)
        message.update(body)
        text_key, entities_key = (
            ("text", "entities") if kind == "text" else ("caption", "caption_entities")
        )
        if text:
            message[text_key] = text
            if entities:
                message[entities_key] = entities
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._messages[(chat_id, message_id)] = message
        bot_message = BotMessage(
            message_id=message_id,
            chat_id=chat_id,
            message_thread_id=thread_id,
            kind=kind,
            text=text if kind == "text" or text else None,
            reply_markup=markup,
            parse_mode=params.get("parse_mode") or None,
            file=file,
            supports_streaming=_bool_param(params, "supports_streaming"),
            params=params,
            entities=entities,
            file_id=file_id,
        )
        self._bot_messages.setdefault(chat_id, []).append(bot_message)
        self._log.setdefault(chat_id, []).append(_LogEntry("bot", message_id))
        return copy.deepcopy(message)

    async def _m_send_message(self, req: _Request) -> JSONDict:
        raw_text = str(req.params.get("text") or "")
        text, entities = self._format(
            raw_text, req.params.get("parse_mode"), req.params.get("entities")
        )
        self._check_text(text)
        return self._new_bot_message(req, "text", text, entities, {})

    def _editable(self, params: JSONDict) -> tuple[BotMessage, JSONDict] | None:
        """The message an edit targets, or None for inline messages (accepted blindly)."""
        if params.get("inline_message_id"):
            return None
        chat = self._chat_from_params(params)
        chat_id = int(chat["id"])
        message_id = _int_param(params, "message_id")
        if message_id is None:
            raise _ApiError(400, ERR_MESSAGE_ID_INVALID)
        raw = self._messages.get((chat_id, message_id))
        if raw is None or (chat_id, message_id) in self._deleted:
            raise _ApiError(400, ERR_EDIT_NOT_FOUND)
        message = self._find_bot_message(chat_id, message_id)
        if message is None:
            raise _ApiError(400, ERR_CANT_EDIT)
        return message, raw

    def _apply_edit(
        self,
        message: BotMessage,
        raw: JSONDict,
        text: str | None,
        entities: list[JSONDict],
        markup: JSONDict | None,
        params: JSONDict,
    ) -> JSONDict:
        if text is not None and text != (message.text or ""):
            message.edits.append(message.text or "")
        if text is not None:
            text_key, entities_key = (
                ("text", "entities") if message.kind == "text" else ("caption", "caption_entities")
            )
            message.text = text if text or message.kind == "text" else None
            message.entities = entities
            raw.pop(text_key, None)
            raw.pop(entities_key, None)
            if text:
                raw[text_key] = text
                if entities:
                    raw[entities_key] = entities
            if params.get("parse_mode") is not None:
                message.parse_mode = str(params["parse_mode"]) or None
        message.reply_markup = markup
        raw.pop("reply_markup", None)
        if markup is not None and "inline_keyboard" in markup:
            raw["reply_markup"] = markup
        raw["edit_date"] = int(time.time())
        return copy.deepcopy(raw)

    async def _m_edit_message_text(self, req: _Request) -> JSONDict | bool:
        params = req.params
        raw_text = str(params.get("text") or "")
        text, entities = self._format(raw_text, params.get("parse_mode"), params.get("entities"))
        self._check_text(text)
        markup = self._parse_markup(params)
        target = self._editable(params)
        if target is None:
            return True
        message, raw = target
        if message.kind != "text":
            raise _ApiError(400, ERR_NO_TEXT_TO_EDIT)
        if (
            text == message.text
            and entities == message.entities
            and _inline_part(markup) == _inline_part(message.reply_markup)
        ):
            raise _ApiError(400, ERR_NOT_MODIFIED)
        return self._apply_edit(message, raw, text, entities, markup, params)

    async def _m_edit_message_caption(self, req: _Request) -> JSONDict | bool:
        params = req.params
        raw_text = str(params.get("caption") or "")
        text, entities = self._format(
            raw_text, params.get("parse_mode"), params.get("caption_entities")
        )
        if _utf16_len(text) > MAX_CAPTION_LENGTH:
            raise _ApiError(400, ERR_CAPTION_TOO_LONG)
        markup = self._parse_markup(params)
        target = self._editable(params)
        if target is None:
            return True
        message, raw = target
        if message.kind == "text":
            raise _ApiError(400, "Bad Request: there is no caption in the message to edit")
        if (
            text == (message.text or "")
            and entities == message.entities
            and _inline_part(markup) == _inline_part(message.reply_markup)
        ):
            raise _ApiError(400, ERR_NOT_MODIFIED)
        return self._apply_edit(message, raw, text, entities, markup, params)

    async def _m_edit_message_reply_markup(self, req: _Request) -> JSONDict | bool:
        markup = self._parse_markup(req.params)
        target = self._editable(req.params)
        if target is None:
            return True
        message, raw = target
        if _inline_part(markup) == _inline_part(message.reply_markup):
            raise _ApiError(400, ERR_NOT_MODIFIED)
        return self._apply_edit(message, raw, None, message.entities, markup, req.params)

    def _delete(self, chat_id: int, message_id: int) -> None:
        if (chat_id, message_id) not in self._messages or (chat_id, message_id) in self._deleted:
            raise _ApiError(400, ERR_DELETE_NOT_FOUND)
        self._deleted.add((chat_id, message_id))
        message = self._find_bot_message(chat_id, message_id)
        if message is not None:
            message.deleted = True

    async def _m_delete_message(self, req: _Request) -> bool:
        chat = self._chat_from_params(req.params)
        message_id = _int_param(req.params, "message_id")
        if message_id is None:
            raise _ApiError(400, ERR_MESSAGE_ID_INVALID)
        self._delete(int(chat["id"]), message_id)
        return True

    async def _m_delete_messages(self, req: _Request) -> bool:
        chat = self._chat_from_params(req.params)
        ids = req.params.get("message_ids")
        if not isinstance(ids, list) or not ids:
            raise _ApiError(400, "Bad Request: message identifiers are not specified")
        for message_id in ids:
            with contextlib.suppress(_ApiError):
                self._delete(int(chat["id"]), int(message_id))
        return True

    async def _m_send_chat_action(self, req: _Request) -> bool:
        chat = self._chat_from_params(req.params)
        action = str(req.params.get("action") or "")
        if action not in _CHAT_ACTIONS:
            raise _ApiError(400, ERR_ACTION)
        self._actions.setdefault(int(chat["id"]), []).append(action)
        return True

    # ---- commands, callbacks, chat info

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        if not isinstance(scope, dict) or not scope:
            scope = {"type": "default"}
        if "chat_id" in scope:
            scope = {**scope, "chat_id": _as_chat_id(scope["chat_id"])}
        return json.dumps(scope, sort_keys=True), str(language_code or "")

    async def _m_set_my_commands(self, req: _Request) -> bool:
        commands = req.params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, 'Bad Request: parameter "commands" is required')
        if len(commands) > 100:
            raise _ApiError(400, ERR_COMMANDS_TOO_MUCH)
        cleaned: list[JSONDict] = []
        for command in commands:
            if not isinstance(command, dict):
                raise _ApiError(400, ERR_COMMAND_INVALID)
            name = str(command.get("command", "")).lstrip("/")
            description = str(command.get("description", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise _ApiError(400, ERR_COMMAND_INVALID)
            if not description.strip() or len(description) > 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = self._commands_key(req.params.get("scope"), req.params.get("language_code"))
        if cleaned:
            self._commands[key] = cleaned
        else:
            self._commands.pop(key, None)
        return True

    async def _m_get_my_commands(self, req: _Request) -> list[JSONDict]:
        key = self._commands_key(req.params.get("scope"), req.params.get("language_code"))
        return list(self._commands.get(key, []))

    async def _m_delete_my_commands(self, req: _Request) -> bool:
        key = self._commands_key(req.params.get("scope"), req.params.get("language_code"))
        self._commands.pop(key, None)
        return True

    async def _m_answer_callback_query(self, req: _Request) -> bool:
        query_id = str(req.params.get("callback_query_id") or "")
        if query_id not in self._callbacks or query_id in self.callback_answers:
            raise _ApiError(400, ERR_QUERY_INVALID)
        self.callback_answers[query_id] = dict(req.params)
        return True

    async def _m_get_chat(self, req: _Request) -> JSONDict:
        chat = self._chat_from_params(req.params)
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11}

    def _member(self, chat_id: int, user_id: int) -> JSONDict:
        if user_id == BOT_USER_ID:
            user: JSONDict = dict(self.bot_user)
        else:
            user = dict(
                self._users.get(user_id)
                or {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
            )
        if self._creators.get(chat_id) == user_id:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in self._admins.get(chat_id, set()):
            rights = dict.fromkeys(
                (
                    "can_manage_chat",
                    "can_delete_messages",
                    "can_manage_video_chats",
                    "can_restrict_members",
                    "can_change_info",
                    "can_invite_users",
                    "can_post_stories",
                    "can_edit_stories",
                    "can_delete_stories",
                    "can_pin_messages",
                    "can_manage_topics",
                ),
                True,
            )
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_promote_members": False,
                **rights,
            }
        return {"status": "member", "user": user}

    async def _m_get_chat_member(self, req: _Request) -> JSONDict:
        chat = self._chat_from_params(req.params)
        user_id = _int_param(req.params, "user_id")
        if user_id is None:
            raise _ApiError(400, "Bad Request: user_id is empty")
        return self._member(int(chat["id"]), user_id)

    async def _m_get_chat_administrators(self, req: _Request) -> list[JSONDict]:
        chat = self._chat_from_params(req.params)
        chat_id = int(chat["id"])
        if chat["type"] == "private":
            raise _ApiError(400, ERR_PRIVATE_ADMINS)
        ids: list[int] = []
        if chat_id in self._creators:
            ids.append(self._creators[chat_id])
        ids.extend(sorted(self._admins.get(chat_id, set()) - set(ids)))
        return [self._member(chat_id, user_id) for user_id in ids]

    async def _m_set_chat_menu_button(self, req: _Request) -> bool:
        button = req.params.get("menu_button")
        chat_id = _int_param(req.params, "chat_id")
        self.menu_buttons[chat_id] = button if isinstance(button, dict) else {"type": "default"}
        return True

    async def _m_get_chat_menu_button(self, req: _Request) -> JSONDict:
        chat_id = _int_param(req.params, "chat_id")
        return self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "default"}

    def _m_set_bot_text(self, key: str) -> _Handler:
        async def handler(req: _Request) -> bool:
            language = str(req.params.get("language_code") or "")
            self.bot_texts.setdefault(key, {})[language] = str(req.params.get(key) or "")
            return True

        return handler

    # ---- files

    def _file_folder(self) -> Path:
        if self._tmpdir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="fake-telegram-"))
        folder = self._tmpdir / self.token
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    async def _m_get_file(self, req: _Request) -> JSONDict:
        file_id = str(req.params.get("file_id") or "")
        stored = self._files.get(file_id)
        if stored is None:
            raise _ApiError(400, ERR_INVALID_FILE_ID)
        if stored.size > self.download_limit:
            raise _ApiError(400, ERR_FILE_TOO_BIG)
        if stored.rel_path is None:
            ext = Path(stored.file_name or "").suffix
            if not ext and stored.mime_type:
                ext = mimetypes.guess_extension(stored.mime_type) or ""
            ext = ext or _DEFAULT_EXT.get(stored.kind, "")
            number = next(self._file_counter)
            stored.rel_path = f"{_FOLDERS.get(stored.kind, 'documents')}/file_{number}{ext}"
            self._file_paths[stored.rel_path] = stored
        result: JSONDict = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.rel_path,
        }
        if self.local_mode and self.local_files_elsewhere:
            remote = f"{REMOTE_ROOT}/{self.token}/{stored.rel_path}"
            self._file_paths[remote] = stored
            result["file_path"] = remote
        elif self.local_mode:
            if stored.source_path is not None:
                result["file_path"] = str(stored.source_path)
            else:
                if stored.abs_path is None:
                    path = self._file_folder() / stored.rel_path
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with path.open("wb") as handle:
                        handle.write((stored.content or b"")[: stored.size])
                        handle.truncate(stored.size)  # declared_size: sparse, nothing allocated
                    stored.abs_path = path
                result["file_path"] = str(stored.abs_path)
        return result

    def _resolve_media(
        self, req: _Request, field_name: str, kind: str
    ) -> tuple[_StoredFile, UploadedFile | str]:
        """Find the media of a send* call: a multipart upload, attach://, URL or file_id."""
        value = req.params.get(field_name)
        upload = req.uploads.get(field_name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = req.uploads.get(value[len("attach://") :])
            if upload is None:
                raise _ApiError(400, f"Bad Request: there is no {field_name} in the request")
        if upload is not None:
            stored = self._store_file(
                kind, upload.content, upload.filename, upload.content_type, None
            )
            info = UploadedFile(upload.filename, upload.content_type, len(upload.content))
            return stored, info
        if not isinstance(value, str) or not value.strip():
            raise _ApiError(400, f"Bad Request: there is no {field_name} in the request")
        value = value.strip()
        if re.match(r"https?://", value, re.IGNORECASE):
            name = Path(value.split("?", 1)[0]).name or None
            mime = mimetypes.guess_type(name or "")[0] if name else None
            return self._store_file(kind, None, name, mime, None), value
        if value.startswith("file://"):
            path = Path(unquote(value[len("file://") :]))
            if not self.local_mode or not path.is_file():
                raise _ApiError(400, ERR_WRONG_FILE)
            if path.stat().st_size > self.upload_limit:
                raise _ApiError(413, ERR_TOO_LARGE)
            mime = mimetypes.guess_type(path.name)[0]
            stored = self._store_file(kind, None, path.name, mime, None, source_path=path)
            return stored, value
        existing = self._files.get(value)
        if existing is None:
            raise _ApiError(400, ERR_WRONG_FILE)
        return existing, value

    def _caption(self, params: JSONDict) -> tuple[str, list[JSONDict]]:
        caption, entities = self._format(
            str(params.get("caption") or ""),
            params.get("parse_mode"),
            params.get("caption_entities"),
        )
        if _utf16_len(caption) > MAX_CAPTION_LENGTH:
            raise _ApiError(400, ERR_CAPTION_TOO_LONG)
        return caption, entities

    def _thumbnail(self, req: _Request) -> JSONDict | None:
        value = req.params.get("thumbnail")
        upload = req.uploads.get("thumbnail")
        if isinstance(value, str) and value.startswith("attach://"):
            upload = req.uploads.get(value[len("attach://") :])
        if upload is None:
            return None
        stored = self._store_file("thumbnail", upload.content, None, None, None)
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 320,
            "height": 180,
            "file_size": stored.size,
        }

    async def _send_media(self, req: _Request, kind: MessageKind) -> JSONDict:
        self._chat_from_params(req.params)
        caption, entities = self._caption(req.params)
        stored, ref = self._resolve_media(req, kind, kind)
        params = req.params
        body: JSONDict
        if kind == "photo":
            body = {"photo": self._photo_from(stored, params)}
        else:
            extra: dict[str, int] = {}
            if kind in ("video", "animation"):
                extra = {
                    "width": _int_param(params, "width") or 0,
                    "height": _int_param(params, "height") or 0,
                    "duration": _int_param(params, "duration") or 0,
                }
            media = self._file_object(stored, **extra)
            thumb = self._thumbnail(req)
            if thumb is not None:
                media["thumbnail"] = thumb
            body = {kind: media}
            if kind == "animation":
                body["document"] = self._file_object(stored)
        if _bool_param(params, "has_spoiler"):
            body["has_media_spoiler"] = True
        if _bool_param(params, "show_caption_above_media"):
            body["show_caption_above_media"] = True
        return self._new_bot_message(
            req, kind, caption, entities, body, file=ref, file_id=stored.file_id
        )

    def _photo_from(self, stored: _StoredFile, params: JSONDict) -> list[JSONDict]:
        width = _int_param(params, "width") or 1280
        height = _int_param(params, "height") or 720
        return [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": width,
                "height": height,
                "file_size": stored.size,
            }
        ]

    async def _m_send_video(self, req: _Request) -> JSONDict:
        return await self._send_media(req, "video")

    async def _m_send_document(self, req: _Request) -> JSONDict:
        return await self._send_media(req, "document")

    async def _m_send_photo(self, req: _Request) -> JSONDict:
        return await self._send_media(req, "photo")

    async def _m_send_animation(self, req: _Request) -> JSONDict:
        return await self._send_media(req, "animation")


def _inline_part(markup: JSONDict | None) -> Any:
    """The part of a reply markup a message keeps (only inline keyboards are stored)."""
    if not markup or "inline_keyboard" not in markup:
        return None
    return markup["inline_keyboard"]
