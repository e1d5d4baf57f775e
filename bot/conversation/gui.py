"""GUI translation: the backend talks as if the person had its editor open; they have a chat.

"Click Export in the top right" runs the export (or offers its button), "open … panel" and
"preview in timeline" show the project's state in the same reply, "drag" is sent back to the
agent as the instruction it stands for. Chinese too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.i18n import Translator

_Q = r"[\"“”'`*「」『』]*"
_WHERE_EN = (
    r"(?:\s+(?:button|option))?"
    r"(?:\s+(?:in|at|on|from)\s+the\s+(?:top|upper|bottom|lower)[\s-]*(?:right|left)"
    r"(?:\s+corner)?(?:\s+of\s+the\s+(?:screen|editor|page|window))?)?"
    r"(?:\s+(?:button))?"
    r"(?:\s+to\s+(?:download|save|get|export|render)"
    r"(?:\s+(?:it|the\s+video|your\s+video|the\s+file|the\s+result|your\s+file))?)?"
)
EXPORT_EN = re.compile(
    r"(?:click|press|tap|hit|select|choose|use)\s+(?:on\s+)?(?:the\s+)?" + _Q + r"export" + _Q
    + _WHERE_EN,
    re.IGNORECASE,
)
EXPORT_ZH = re.compile(
    r"(?:点击|點擊|点|點|按|选择|選擇)(?:一下)?(?:右上角|左上角|右下角|上方|页面|頁面|界面)?(?:的)?"
    + _Q + r"(?:导出|匯出|導出)" + _Q + r"(?:按钮|按鈕)?"
    r"(?:(?:即可|就可以|来|來)?(?:下载|下載|保存)(?:视频|視頻|影片)?)?"
)
TIMELINE_EN = re.compile(
    r"(?:preview|check|view|see)\s+(?:it\s+|the\s+result\s+|the\s+changes\s+)?"
    r"(?:in|on)\s+the\s+timeline"
    r"|open\s+(?:the\s+)?(?:timeline|project|editor|preview|track\s+panel|tracks?)",
    re.IGNORECASE,
)
TIMELINE_ZH = re.compile(
    r"(?:在)?(?:时间线|時間線|时间轴|時間軸)(?:中|上|里|裡)?(?:预览|預覽|查看)"
    r"|(?:打开|打開)(?:时间线|時間線|时间轴|時間軸|项目|項目|编辑器|編輯器|预览|預覽)"
    r"(?:中|上|里|裡)?(?:预览|預覽|查看)?"
)
DRAG_EN = re.compile(r"\bdrag(?:\s+and\s+drop|\s*&\s*drop|\s*/\s*drop)?\b", re.IGNORECASE)
DRAG_ZH = re.compile(r"拖拽|拖动|拖動|拖曳")
CLICK_EN = re.compile(r"\b(?:click|tap)\s+(?:on\s+)?", re.IGNORECASE)
CLICK_ZH = re.compile(r"点击|點擊")

# A word each English pattern cannot match without: most answers hold none of them, and a
# case-insensitive alternation is tried at every position (EXPORT_EN alone took ~0.2 ms of
# an ordinary 1 kB answer, twice per turn), while ``in`` on the lowered text is ~1 µs.
_NEEDS: dict[re.Pattern[str], tuple[str, ...]] = {}


def _search(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    needs = _NEEDS.get(pattern)
    if needs is not None:
        lowered = text.lower()
        if not any(word in lowered for word in needs):
            return None
    return pattern.search(text)


def asks_to_export(text: str) -> bool:
    """The backend told the person to press its Export button: the bot should just export."""
    return bool(_search(EXPORT_EN, text) or EXPORT_ZH.search(text))


def _sub(pattern: re.Pattern[str], text: str, replacement: str) -> str:
    def repl(match: re.Match[str]) -> str:
        before = text[: match.start()].rstrip(" ")
        sentence_start = not before or before[-1] in ".!?\n:。！？："
        return replacement[:1].upper() + replacement[1:] if sentence_start else replacement

    return pattern.sub(repl, text)


_SENTENCE_END = re.compile(r"[.!?。！？\n]")


def _replace_sentence(pattern: re.Pattern[str], text: str, sentence: str) -> str:
    """Swap each whole sentence that contains a match: "You can click Export in the top right
    to download it." cannot be patched word by word into something the bot does."""
    while match := _search(pattern, text):
        start = 0
        for end_mark in _SENTENCE_END.finditer(text, 0, match.start()):
            start = end_mark.end()
        after = _SENTENCE_END.search(text, match.end())
        end = after.end() if after else len(text)
        lead = text[start:match.start()]
        lead_space = lead[: len(lead) - len(lead.lstrip())]
        tail = text[end:]
        gap = "" if not tail or tail[0].isspace() or not tail.strip() else " "
        text = text[:start] + lead_space + sentence + gap + tail
    return text


PANEL_EN = re.compile(
    r"\bopen\s+(?:up\s+)?(?:the\s+|your\s+)?(?:[\w-]+\s+){0,3}?(?:panel|tab|sidebar|menu|window)\b",
    re.IGNORECASE,
)
PANEL_ZH = re.compile(
    r"(?:打开|打開)[^，,。.！!？?\n]{0,12}?(?:面板|窗口|視窗|菜单|選單|侧边栏|側邊欄)"
)
_NEEDS.update({
    EXPORT_EN: ("export",),
    TIMELINE_EN: ("timeline", "open"),
    PANEL_EN: ("open",),
    DRAG_EN: ("drag",),
    CLICK_EN: ("click", "tap"),
})


@dataclass(frozen=True, slots=True)
class GuiReply:
    """The agent's answer made chat-shaped, and what the bot must do about it."""

    text: str
    show_state: bool  # "open … panel" / "preview in the timeline": show the project below
    moves: tuple[str, ...]  # "drag …" sentences as instructions to send back to the agent


def _sentences(pattern: re.Pattern[str], text: str) -> list[str]:
    found: list[str] = []
    if _search(pattern, text) is None:
        return found
    for match in pattern.finditer(text):
        start = 0
        for end_mark in _SENTENCE_END.finditer(text, 0, match.start()):
            start = end_mark.end()
        after = _SENTENCE_END.search(text, match.end())
        sentence = text[start: after.end() if after else len(text)].strip()
        if sentence and sentence not in found:
            found.append(sentence)
    return found


def _as_instruction(sentence: str) -> str:
    """"You can drag the logo to the top left." -> "Move the logo to the top left."."""
    sentence = re.sub(r"^(?:you\s+can|just|simply|please|then)\s+", "", sentence,
                      flags=re.IGNORECASE)
    sentence = DRAG_EN.sub("move", sentence)
    sentence = DRAG_ZH.sub("移动", sentence)
    sentence = re.sub(r"^(?:你可以|您可以|可以|请|請)", "", sentence)
    return sentence[:1].upper() + sentence[1:]


def read_gui(
    text: str, t: Translator, *, exporting: bool, button: bool = False, act: bool = True
) -> GuiReply:
    """Rewrite GUI instructions into what the bot does, in the person's language.

    "Export" becomes the export (or the button when the bot may not export by itself);
    "open … panel" and "preview in the timeline" become the project's summary, shown under
    the answer; "drag" becomes an instruction the bot sends back to the agent (``act``;
    without it, a follow-up turn's own drags ask the person instead, so it never loops).
    """
    if exporting:
        export = t._("I'm exporting the video for you now.")
    elif button:
        export = t._("Use the 🎬 Export button below to get the video.")
    else:
        export = t._("Send /export to get the video.")
    said: list[str] = [export]
    for pattern in (EXPORT_EN, EXPORT_ZH):
        text = _replace_sentence(pattern, text, export)
    show_state = False
    for pattern in (PANEL_EN, PANEL_ZH, TIMELINE_EN, TIMELINE_ZH):
        if _search(pattern, text):
            show_state = True
            said.append(t._("Here is your project now:"))
            text = _replace_sentence(pattern, text, said[-1])
    moves: list[str] = []
    if act:
        for pattern in (DRAG_EN, DRAG_ZH):
            for sentence in _sentences(pattern, text):
                moves.append(_as_instruction(sentence))
            said.append(t._("I'm asking for that change now."))
            text = _replace_sentence(pattern, text, said[-1])
    rules: list[tuple[re.Pattern[str], Callable[[], str]]] = [
        (DRAG_EN, lambda: t._("tell me where to move")),
        (DRAG_ZH, lambda: t._("tell me where to move")),
        (CLICK_EN, lambda: t._("tell me to use ")),
        (CLICK_ZH, lambda: t._("tell me to use ")),
    ]
    for pattern, replacement in rules:
        if _search(pattern, text):
            text = _sub(pattern, text, replacement())
    return GuiReply(text=_once(text, said), show_state=show_state, moves=tuple(moves))


def _once(text: str, sentences: list[str]) -> str:
    """Two GUI sentences in a row become the same bot sentence twice: keep one."""
    for sentence in set(sentences):
        for gap in (" ", "\n", ""):
            while sentence + gap + sentence in text:
                text = text.replace(sentence + gap + sentence, sentence)
    return text


def translate_gui(text: str, t: Translator, *, exporting: bool) -> str:
    """The rewritten text alone (see :func:`read_gui`)."""
    return read_gui(text, t, exporting=exporting).text
