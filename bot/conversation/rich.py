"""The agent's Markdown as Telegram HTML: its **bold**, `code` and lists survive.

markdown-it-py parses the text (CommonMark plus ~~strikethrough~~, raw HTML off, so every
``<`` the agent writes is shown, not interpreted); the token stream is rendered to the few
tags Telegram accepts, everything else escaped. Each top-level block is rendered on its own,
so a long answer is cut between blocks and no chunk ever holds half a tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from html import escape
from typing import TYPE_CHECKING

from bot.conversation.text import MESSAGE_LIMIT, split_text

if TYPE_CHECKING:  # markdown-it is imported by the first answer, not before polling starts
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

_INLINE_TAGS = {
    "strong_open": "<b>", "strong_close": "</b>",
    "em_open": "<i>", "em_close": "</i>",
    "s_open": "<s>", "s_close": "</s>",
}
_SAFE_SCHEMES = ("http://", "https://", "tg://", "mailto:")


@dataclass(frozen=True, slots=True)
class Rich:
    """One message: Telegram HTML and the same words as plain text (the fallback)."""

    html: str
    plain: str


@cache
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("strikethrough")


def _inline(tokens: Sequence[Token] | None) -> tuple[str, str]:
    html: list[str] = []
    plain: list[str] = []
    anchors: list[bool] = []  # per open link: whether its <a> was written
    for tok in tokens or ():
        if tok.type == "text":
            html.append(escape(tok.content, quote=False))
            plain.append(tok.content)
        elif tok.type in _INLINE_TAGS:
            html.append(_INLINE_TAGS[tok.type])
        elif tok.type == "code_inline":
            html.append(f"<code>{escape(tok.content, quote=False)}</code>")
            plain.append(tok.content)
        elif tok.type in {"softbreak", "hardbreak"}:
            html.append("\n")
            plain.append("\n")
        elif tok.type == "link_open":
            href = str(tok.attrs.get("href", ""))
            safe = href.lower().startswith(_SAFE_SCHEMES)
            anchors.append(safe)
            if safe:
                html.append(f'<a href="{escape(href)}">')
        elif tok.type == "link_close":
            if anchors and anchors.pop():
                html.append("</a>")
        elif tok.type == "image":
            alt = tok.content or str(tok.attrs.get("src", ""))
            html.append(escape(alt, quote=False))
            plain.append(alt)
        elif tok.content:  # html_inline with html off never comes; keep any text as text
            html.append(escape(tok.content, quote=False))
            plain.append(tok.content)
    return "".join(html), "".join(plain)


def _blocks(tokens: list[Token]) -> list[Rich]:
    """Render each top-level block; lists and quotes keep their items together."""
    out: list[Rich] = []
    html: list[str] = []
    plain: list[str] = []
    lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
    depth = 0
    for tok in tokens:
        if tok.type in {"bullet_list_open", "ordered_list_open"}:
            start = int(tok.attrs.get("start", 1) or 1) if tok.type == "ordered_list_open" else 0
            lists.append([start] if tok.type == "ordered_list_open" else [])
        elif tok.type in {"bullet_list_close", "ordered_list_close"}:
            lists.pop()
        elif tok.type == "list_item_open":
            indent = "  " * (len(lists) - 1)
            current = lists[-1]
            if current:
                mark = f"{current[0]}. "
                current[0] += 1
            else:
                mark = "• "
            if html and not html[-1].endswith("\n"):
                html.append("\n")
                plain.append("\n")
            html.append(indent + mark)
            plain.append(indent + mark)
        elif tok.type == "heading_open":
            html.append("<b>")
        elif tok.type == "heading_close":
            html.append("</b>")
        elif tok.type == "blockquote_open":
            html.append("<blockquote>")
        elif tok.type == "blockquote_close":
            html.append("</blockquote>")
        elif tok.type == "inline":
            h, p = _inline(tok.children)
            html.append(h)
            plain.append(p)
        elif tok.type in {"fence", "code_block"}:
            code = tok.content.rstrip("\n")
            html.append(f"<pre>{escape(code, quote=False)}</pre>")
            plain.append(code)
        elif tok.type == "hr":
            html.append("———")
            plain.append("———")
        elif tok.type == "paragraph_close" and lists:
            html.append("\n")
            plain.append("\n")
        if tok.nesting == 1:
            depth += 1
        elif tok.nesting == -1:
            depth -= 1
        if depth == 0 and (html or plain):
            text_html = "".join(html).strip("\n")
            text_plain = "".join(plain).strip("\n")
            if text_plain.strip():
                out.append(Rich(text_html, text_plain))
            html, plain = [], []
    return out


def markdown_to_rich(text: str) -> Rich:
    """The whole text as one message (no length limit applied)."""
    blocks = _blocks(_parser().parse(text))
    return Rich("\n\n".join(b.html for b in blocks), "\n\n".join(b.plain for b in blocks))


def escaped(text: str) -> Rich:
    """Bot text (no Markdown) in the same shape."""
    return Rich(escape(text, quote=False), text)


def join(*parts: Rich) -> Rich:
    kept = [p for p in parts if p.plain.strip()]
    return Rich("\n\n".join(p.html for p in kept), "\n\n".join(p.plain for p in kept))


def split_rich(text: str, tail: Rich | None = None, limit: int = MESSAGE_LIMIT) -> list[Rich]:
    """Markdown ``text`` (plus bot ``tail``) as messages within ``limit`` visible characters.

    Messages are packed from whole blocks; a block longer than the limit alone is sent as
    plain escaped text cut by :func:`split_text`, so no message carries an unclosed tag.
    """
    blocks = _blocks(_parser().parse(text))
    if tail is not None and tail.plain.strip():
        blocks.append(tail)
    chunks: list[Rich] = []
    html: list[str] = []
    plain: list[str] = []

    def flush() -> None:
        if plain:
            chunks.append(Rich("\n\n".join(html), "\n\n".join(plain)))
            html.clear()
            plain.clear()

    for block in blocks:
        if len(block.plain) > limit:
            flush()
            chunks.extend(escaped(piece) for piece in split_text(block.plain, limit))
            continue
        size = sum(len(p) + 2 for p in plain)
        if plain and size + len(block.plain) > limit:
            flush()
        html.append(block.html)
        plain.append(block.plain)
    flush()
    return chunks
