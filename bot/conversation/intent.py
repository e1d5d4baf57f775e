"""Routing a message by its whole intent, in English and Chinese (both scripts).

A message is a direct action only when the WHOLE message says just that ("export",
"send me the video", "积分?"); anything longer or negated ("don't export yet, first make it
smaller") is an instruction for the agent.
"""

from __future__ import annotations

import re
from enum import Enum


class Intent(Enum):
    EXPORT = "export"
    CREDITS = "credits"
    STATUS = "status"
    UPLOAD = "upload"
    AGENT = "agent"


_FILLER_PHRASES_EN = (
    "thank you", "can you", "could you", "would you", "i want to", "i'd like to", "i would like to",
)
_FILLER_WORDS_EN = frozenset(
    "please pls plz now ok okay thanks just the my me a it this that let's lets".split()
)
_FILLER_ZH = "请|請|帮我|幫我|给我|給我|一下|吧|呢|吗|嗎|了|现在|現在|我要|我想|麻烦|麻煩|谢谢|謝謝"

_EN_PATTERNS: dict[Intent, str] = {
    Intent.EXPORT: (
        r"(?:export|download|render|save|send(?: video| file| result| final video)?"
        r"|give(?: video| file| result)|get(?: video| file| result)|export video|download video"
        r"|send video|video please)"
        r"(?: video| file| result| mp4)?(?: to me| here)?"
    ),
    Intent.CREDITS: (
        r"(?:show |check |how many |what is |what's )?(?:credits?|balance|credit balance)"
        r"(?: left| remaining| do i have| have i got)?"
    ),
    Intent.STATUS: (
        r"(?:show |check |what is |what's )?(?:status|state|tracks|timeline|project"
        r"|project status|show tracks|current tracks)(?: of project| so far)?"
    ),
    Intent.UPLOAD: r"(?:how (?:do|can) i |how to )?(?:upload|send|add)(?: video| file| clip)?",
}

_ZH_PATTERNS: dict[Intent, str] = {
    Intent.EXPORT: r"(?:导出|匯出|導出|下载|下載|发送|發送|发给|發給)(?:视频|視頻|影片|文件|檔案)?",
    Intent.CREDITS: r"(?:查看|查询|查詢)?(?:积分|積分|余额|餘額)(?:多少|还有多少|還有多少)?",
    Intent.STATUS: r"(?:查看|查询|查詢)?(?:状态|狀態|轨道|軌道|时间线|時間線|进度|進度)",
    Intent.UPLOAD: r"(?:怎么|怎麼|如何)?(?:上传|上傳)(?:视频|視頻|影片|文件|檔案)?",
}

_NEGATION = re.compile(
    r"\b(?:don'?t|do not|not yet|no need|never|without|before|first|after|then|and)\b"
    r"|不要|别|別|先|再|然后|然後|之前|之后|之後|不用|并且|並且|和"
)


def _normalise(text: str) -> str:
    text = text.lower().strip()
    text = re.sub(r"[!?.,;:，。！？、；：~…\"'“”‘’()\[\]]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _strip_fillers(text: str) -> str:
    text = re.sub(_FILLER_ZH, "", text)
    for phrase in _FILLER_PHRASES_EN:
        text = text.replace(phrase, " ")
    return " ".join(w for w in text.split() if w not in _FILLER_WORDS_EN)


def classify(text: str) -> Intent:
    """The action a message asks for; ``AGENT`` unless the whole message is a direct action."""
    normal = _normalise(text)
    if not normal or _NEGATION.search(normal):
        return Intent.AGENT
    core = _strip_fillers(normal)
    compact = core.replace(" ", "")
    for intent, pattern in _ZH_PATTERNS.items():
        if compact and re.fullmatch(pattern, compact):
            return intent
    for intent, pattern in _EN_PATTERNS.items():
        if core and re.fullmatch(pattern, core):
            return intent
    return Intent.AGENT


_HOLD_EXPORT = re.compile(
    r"\b(?:don'?t|do not|no need to|not)\s+(?:\w+\s+){0,2}(?:export|render|download)"
    r"|\b(?:export|render)\w*(?:\s+\w+)?\s+later\b|\bnot\s+yet\b"
    r"|(?:不要|别|別|先不|暂时不|暫時不|不用)(?:\S{0,3})(?:导出|匯出|導出|渲染|下载|下載)",
    re.IGNORECASE,
)


def holds_export(text: str) -> bool:
    """The person asked not to export yet ("don't export yet", "先别导出")."""
    return bool(_HOLD_EXPORT.search(text))
