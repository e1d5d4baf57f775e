"""Telegram's text parsing in the fake: automatic entities and the HTML parse mode (the only
one the bot sends; unsupported modes are refused like Telegram refuses unknown ones)."""

from __future__ import annotations

import re
from typing import Final

from bot.sandbox.telegram.api_types import (
    JSONDict,
    _EntityParseError,
    _utf16_len,
)


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




def _link_entity(url: str, base: JSONDict) -> JSONDict | None:
    match = re.fullmatch(r"tg://user\?id=(\d+)", url)
    if match:
        user = {"id": int(match.group(1)), "is_bot": False, "first_name": ""}
        return {"type": "text_mention", **base, "user": user}
    if url:
        return {"type": "text_link", **base, "url": url}
    return None




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


