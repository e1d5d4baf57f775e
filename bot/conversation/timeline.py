"""Reading a draft (short names t/tt/sg/d/m) back to the person as a short timeline."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlparse

from bot.i18n import Translator


def exportable(draft: dict[str, Any] | None) -> bool:
    """A draft can be rendered when some track has at least one segment."""
    if not isinstance(draft, dict):
        return False
    return any(isinstance(tr, dict) and tr.get("sg") for tr in draft.get("t") or [])


def fingerprint(draft: dict[str, Any] | None) -> str | None:
    """Stable hash to tell whether a turn changed the draft."""
    if not draft:
        return None
    return hashlib.sha256(json.dumps(draft, sort_keys=True).encode()).hexdigest()[:16]


def _label(t: Translator, track_type: Any) -> str:
    if track_type == 0:
        return t._("Video")
    if track_type == 1:
        return t._("Music")
    if track_type == 7:
        return t._("Text")
    return t._("Track")


def _name(meta: dict[str, Any]) -> str | None:
    if isinstance(meta.get("text"), str) and meta["text"].strip():
        return f"“{meta['text'].strip()}”"
    for key in ("title", "name", "filename", "file_name"):
        if isinstance(meta.get(key), str) and meta[key].strip():
            return str(meta[key]).strip()
    url = meta.get("url") or meta.get("src")
    if isinstance(url, str) and url:
        return urlparse(url).path.rsplit("/", 1)[-1] or None
    return None


def _ms(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def summarize(draft: dict[str, Any] | None, t: Translator) -> str | None:
    """``1. Video: clip.mp4 (0–10 s)`` per segment, or ``None`` when the draft is empty."""
    if not exportable(draft):
        return None
    assert draft is not None
    lines: list[str] = []
    for track in draft.get("t") or []:
        if not isinstance(track, dict):
            continue
        label = _label(t, track.get("tt"))
        for seg in track.get("sg") or []:
            if not isinstance(seg, dict):
                continue
            meta = seg.get("m") if isinstance(seg.get("m"), dict) else {}
            assert isinstance(meta, dict)
            start = _ms(seg.get("s", seg.get("st", seg.get("start", 0)))) or 0.0
            length = _ms(seg.get("d", seg.get("duration")))
            details: list[str] = []
            if length is not None:
                details.append(
                    t._("{start}–{end} s").format(
                        start=t.number(start / 1000), end=t.number((start + length) / 1000)
                    )
                )
            volume = meta.get("volume")
            if isinstance(volume, int | float) and track.get("tt") == 1:
                percent = volume * 100 if volume <= 1 else volume
                details.append(f"{t.number(percent, 0)}%")
            name = _name(meta) or t._("untitled")
            index = len(lines) + 1
            if details:
                # TRANSLATORS: one timeline line, e.g. "2. Music: Lo-fi (0–10 s, 35%)"
                line = t._("{index}. {label}: {name} ({details})").format(
                    index=index, label=label, name=name,
                    # TRANSLATORS: separator between a segment's details
                    details=t._(", ").join(details),
                )
            else:
                line = t._("{index}. {label}: {name}").format(index=index, label=label, name=name)
            lines.append(line)
    return "\n".join(lines)


def duration_seconds(draft: dict[str, Any] | None) -> float | None:
    """How long the project plays: the draft's ``d`` or its latest segment end, in seconds."""
    if not isinstance(draft, dict):
        return None
    total = _ms(draft.get("d"))
    end = 0.0
    for track in draft.get("t") or []:
        if not isinstance(track, dict):
            continue
        for seg in track.get("sg") or []:
            if isinstance(seg, dict):
                start = _ms(seg.get("s", seg.get("st", seg.get("start", 0)))) or 0.0
                end = max(end, start + (_ms(seg.get("d", seg.get("duration"))) or 0.0))
    best = max(total or 0.0, end)
    return best / 1000 if best > 0 else None
