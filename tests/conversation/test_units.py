"""Pure pieces of the conversation: intent routing, GUI translation, timelines, splitting."""

from __future__ import annotations

import pytest

from bot.conversation.gui import asks_to_export, translate_gui
from bot.conversation.intent import Intent, classify, holds_export
from bot.conversation.text import split_text
from bot.conversation.timeline import exportable, fingerprint, summarize
from bot.i18n import backend_language, choose_locale, resolve_locale, translator

EN = translator("en")


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("export", Intent.EXPORT), ("Export!", Intent.EXPORT), ("导出", Intent.EXPORT),
        ("匯出", Intent.EXPORT), ("導出", Intent.EXPORT), ("download", Intent.EXPORT),
        ("send me the video", Intent.EXPORT), ("please export the video", Intent.EXPORT),
        ("请导出", Intent.EXPORT),
        ("credits", Intent.CREDITS), ("积分", Intent.CREDITS), ("積分", Intent.CREDITS),
        ("balance", Intent.CREDITS), ("余额", Intent.CREDITS), ("餘額", Intent.CREDITS),
        ("how many credits do I have?", Intent.CREDITS),
        ("status", Intent.STATUS), ("状态", Intent.STATUS), ("狀態", Intent.STATUS),
        ("show tracks", Intent.STATUS),
        ("upload", Intent.UPLOAD), ("上传", Intent.UPLOAD), ("上傳", Intent.UPLOAD),
        ("don't export yet, first make it smaller", Intent.AGENT),
        ("compress this video to a smaller file size without losing quality", Intent.AGENT),
        ("export it in 720p", Intent.AGENT), ("make it smaller and export", Intent.AGENT),
        ("先别导出", Intent.AGENT), ("what is the status of the world economy", Intent.AGENT),
        ("status bar overlay please at the top", Intent.AGENT), ("", Intent.AGENT),
    ],
)
def test_whole_message_intents(text: str, intent: Intent) -> None:
    assert classify(text) is intent


@pytest.mark.parametrize(
    ("text", "held"),
    [("don't export yet, first make it smaller", True), ("先别导出", True),
     ("do not render it", True), ("export it later", True), ("compress it", False),
     ("export", False)],
)
def test_holds_export(text: str, held: bool) -> None:
    assert holds_export(text) is held


@pytest.mark.parametrize(
    ("text", "forbidden"),
    [
        ("Click Export in the top right corner to download it.", ["Click", "top right"]),
        ("You can click Export in the top right to download it. More?", ["click", "Export in"]),
        ("Preview it in the timeline, then drag the clip.", ["Preview", "drag"]),
        ("点击右上角的导出按钮即可下载视频。", ["点击", "导出按钮"]),
        ("打开时间线查看，拖拽片段调整顺序。", ["打开", "拖拽"]),
    ],
)
def test_gui_words_are_rewritten(text: str, forbidden: list[str]) -> None:
    out = translate_gui(text, EN, exporting=False)
    for word in forbidden:
        assert word not in out, out


def test_export_instruction_becomes_a_whole_sentence() -> None:
    text = "Done. You can click Export in the top right to download it. Anything else?"
    assert asks_to_export(text)
    assert translate_gui(text, EN, exporting=True) == (
        "Done. I'm exporting the video for you now. Anything else?"
    )
    assert translate_gui(text, EN, exporting=False) == (
        "Done. Send /export to get the video. Anything else?"
    )


def test_plain_text_is_left_alone() -> None:
    text = "The file is 60% smaller and the bitrate dropped to 4 Mbps."
    assert translate_gui(text, EN, exporting=False) == text
    assert not asks_to_export(text)
    assert translate_gui("你可以打开字幕开关。", EN, exporting=False) == "你可以打开字幕开关。"


def test_timeline_summary() -> None:
    draft = {"t": [
        {"tt": 0, "sg": [{"s": 0, "d": 10000, "m": {"title": "clip.mp4"}}]},
        {"tt": 1, "sg": [{"d": 10000, "m": {"title": "Lo-fi", "volume": 0.35}}]},
        {"tt": 7, "sg": [{"d": 3000, "m": {"text": "Urban Dreams"}}]},
    ]}
    assert summarize(draft, EN) == (
        "1. Video: clip.mp4 (0–10 s)\n2. Music: Lo-fi (0–10 s, 35%)\n"
        "3. Text: “Urban Dreams” (0–3 s)"
    )
    assert exportable(draft) and fingerprint(draft) == fingerprint(dict(draft))
    assert not exportable({"t": [{"tt": 0, "sg": []}]}) and not exportable(None)
    assert summarize({"t": []}, EN) is None


def test_split_keeps_everything_within_limits() -> None:
    text = "\n\n".join(f"para {i} " + "x" * 900 for i in range(12)) + "\n" + "y" * 5000
    parts = split_text(text)
    assert all(len(p) <= 4096 for p in parts)
    assert "".join(parts).replace("\n", "").replace(" ", "") == (
        text.replace("\n", "").replace(" ", "")
    )
    assert split_text("   ") == []


@pytest.mark.parametrize(
    ("code", "locale"),
    [("zh", "zh_Hans"), ("zh-hans", "zh_Hans"), ("zh-cn", "zh_Hans"), ("zh-sg", "zh_Hans"),
     ("zh-hant", "zh_Hant"), ("zh-tw", "zh_Hant"), ("zh-hk", "zh_Hant"), ("zh-mo", "zh_Hant"),
     ("en", "en"), ("en-GB", "en"), ("pt-br", "en"), ("xx", "en"), (None, "en"), ("", "en")],
)
def test_locale_resolution(code: str | None, locale: str) -> None:
    assert resolve_locale(code) == locale


def test_stored_choice_wins_and_backend_language() -> None:
    assert choose_locale("zh_Hant", "en") == "zh_Hant"
    assert choose_locale(None, "zh-cn") == "zh_Hans"
    assert backend_language("zh_Hant") == backend_language("zh_Hans") == "zh"
    assert backend_language("en") == "en"


def test_sizes_and_durations_follow_the_locale() -> None:
    assert EN.size(48_200_000) == "48.2 MB"
    assert EN.duration(90) == "1 min 30 sec"
    assert translator("zh_Hans").duration(90) == "1分钟30秒"
    assert "MB" in translator("zh_Hant").size(48_200_000)
