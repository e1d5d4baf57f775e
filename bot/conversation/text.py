"""Fitting text into Telegram's limits without losing a character."""

from __future__ import annotations

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split at paragraph, then line, then word boundaries; hard-cut only as a last resort."""
    text = text.strip()
    if not text:
        return []
    chunks: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = window.rfind(sep)
            if cut > limit // 4:
                break
        if cut <= limit // 4:
            cut = limit
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        chunks.append(text)
    return chunks


def clip(text: str, limit: int) -> str:
    """Shorten for a caption or a button; the full text is sent elsewhere when it matters."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
