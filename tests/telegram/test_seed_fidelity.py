"""What the seed prescribes (issue 13): the agent speaks the chat's language, GUI wording is
acted on, AUTO_EXPORT=0 is obeyed, first contact says "Setting up…", and the agent's Markdown
reaches the chat as formatting. All through the real Application against the fakes."""

from __future__ import annotations

import pytest

from bot.conversation import messages
from bot.i18n import translator
from bot.sandbox.backend import adk_text, make_draft
from bot.sandbox.harness import Harness

PUBLIC_LIMIT = 20_000_000  # what the public Bot API lets bots fetch

ALICE = 3101
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(50_000)


def live(h: Harness, chat: int = ALICE) -> list[str]:
    return [m.text or "" for m in h.tg.messages(chat) if not m.deleted]


async def choose_language(h: Harness, chat: int, locale: str, user: dict[str, object]) -> None:
    before = len(h.tg.messages(chat))
    await h.tg.send_text(chat, "/language", user=user)
    menu = await h.tg.wait_for_message(chat, after=before, contains="language")
    await h.tg.press_button(chat, menu.message_id, f"lang:{locale}", user=user)
    await h.tg.wait_for(lambda: menu.deleted or None)
    await h.idle()


# -- 1. the agent speaks the chat's language ---------------------------------------------------


async def test_language_switch_tells_the_agent_once_when_the_project_has_work(h: Harness) -> None:
    user = h.tg.user(ALICE, language_code="en")
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", user=user)
    await h.tg.wait_for_message(ALICE, contains="Received")
    await h.idle()
    await choose_language(h, ALICE, "zh_Hans", user)

    await h.tg.send_text(ALICE, "make it smaller", user=user)
    await h.tg.wait_for(lambda: len(h.backend.requests_to("run_sse")) == 1 or None)
    await h.idle()
    await h.tg.send_text(ALICE, "and brighter", user=user)
    await h.tg.wait_for(lambda: len(h.backend.requests_to("run_sse")) == 2 or None)
    await h.idle()

    session = next(iter(h.backend.sessions.values()))
    assert len(h.backend.sessions) == 1  # the uploads stay: same session
    first, second = session.messages
    assert "简体中文" in first and first.endswith("make it smaller")
    assert second == "and brighter"  # told once


async def test_language_switch_on_an_empty_project_starts_a_session_in_it(h: Harness) -> None:
    user = h.tg.user(ALICE, language_code="en")
    await h.tg.send_text(ALICE, "hello", user=user)
    await h.tg.wait_for_message(ALICE, contains="hello")
    await h.idle()
    await choose_language(h, ALICE, "zh_Hant", user)
    await h.tg.send_text(ALICE, "你好", user=user)
    await h.tg.wait_for(lambda: len(h.backend.requests_to("run_sse")) == 2 or None)
    await h.idle()

    languages = [r.json["language"] for r in h.backend.requests_to("create_session")]
    assert languages == ["en", "zh"]
    last = h.backend.requests_to("run_sse")[-1].json
    new_session = h.backend.sessions[last["session_id"]]
    # The backend's zh sessions answer in Simplified: a Traditional chat says which it reads.
    assert new_session.language == "zh"
    assert new_session.messages == ["（從現在起請用繁體中文回答。）\n你好"]


# -- 2. GUI wording is acted on --------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "Compressed. Open the settings panel to check the bitrate.",
        "压缩完成。打开设置面板查看码率。",
        "Done. Preview it in the timeline.",
    ],
)
async def test_open_panel_or_preview_shows_the_project_in_the_same_reply(
    h: Harness, answer: str
) -> None:
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4")
    await h.tg.wait_for_message(ALICE, contains="Received")
    await h.idle()
    h.backend.queue_turn([adk_text(answer)], draft=make_draft(bgm=("Lo-fi", 0.35)))
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "check it")
    reply = await h.tg.wait_for_message(ALICE, after=before, contains="Lo-fi")
    text = reply.text or ""
    assert "1. Video: clip.mp4 (0–10 s)" in text and "2. Music: Lo-fi (0–10 s, 35%)" in text
    for gui in ("Open the settings", "打开设置", "Preview it", "/status"):
        assert gui not in text
    assert "Here is your project now" in text


async def test_drag_is_sent_back_as_the_instruction_it_stands_for(h: Harness) -> None:
    h.backend.queue_turn([adk_text("Title added. Drag the title to the top left corner.")])
    h.backend.queue_turn([adk_text("Moved the title to the top left corner.")])
    await h.tg.send_text(ALICE, "add a title")
    await h.tg.wait_for_message(ALICE, contains="Moved the title")
    await h.idle()
    session = next(iter(h.backend.sessions.values()))
    assert session.messages == ["add a title", "Move the title to the top left corner."]
    first = next(t for t in live(h) if "Title added" in t)
    assert "Drag" not in first and "asking for that change" in first


async def test_click_export_exports(h: Harness) -> None:
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4")
    await h.tg.wait_for_message(ALICE, contains="Received")
    await h.idle()
    draft = make_draft()
    h.backend.queue_turn([adk_text("All set. Click Export to download it.")], draft=draft)
    await h.tg.send_text(ALICE, "is it ready?")
    await h.tg.wait_for_message(ALICE, kind="video", timeout=15)
    assert any("exporting the video for you now" in t for t in live(h))


# -- 3. AUTO_EXPORT=0 is the operator's word ----------------------------------------------------


@pytest.mark.parametrize("harness_options", [{"auto_export": False}])
async def test_click_export_with_auto_export_off_offers_the_button(h: Harness) -> None:
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4")
    await h.tg.wait_for_message(ALICE, contains="Received")
    await h.idle()
    h.backend.queue_turn(
        [adk_text("Done! Click Export in the top right corner to download it.")],
        draft=make_draft(),
    )
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "compress it")
    reply = await h.tg.wait_for_message(ALICE, after=before, contains="Done!")
    await h.idle()
    assert h.backend.requests_to("render") == []
    assert [b["callback_data"] for b in reply.buttons] == ["export"]
    assert "Export button below" in (reply.text or "")
    # the person asks: now it renders
    await h.tg.press_button(ALICE, reply.message_id, "export")
    await h.tg.wait_for_message(ALICE, kind="video", timeout=15)
    assert len(h.backend.requests_to("render")) == 1


# -- 4. first contact says "Setting up…" ----------------------------------------------------------


async def test_first_contact_says_setting_up_then_the_answer_replaces_it(h: Harness) -> None:
    h.backend.queue_turn([adk_text("Hi! Send me a video.")])
    await h.tg.send_text(ALICE, "hi")
    await h.tg.wait_for_message(ALICE, contains="Hi! Send me")
    await h.idle()
    shown = h.tg.messages(ALICE)
    assert len(shown) == 1  # one message, edited
    assert shown[0].edits == [messages.setting_up(translator("en"))]
    # the second message needs no setup
    await h.tg.send_text(ALICE, "thanks")
    await h.tg.wait_for_message(ALICE, after=1)
    await h.idle()
    assert all(not m.edits for m in h.tg.messages(ALICE)[1:])
    assert len(h.backend.requests_to("anonymous_token")) == 1


async def test_start_is_setting_up_edited_into_the_welcome_in_chinese(h: Harness) -> None:
    user = h.tg.user(ALICE, language_code="zh-TW")
    await h.tg.send_text(ALICE, "/start", user=user)
    welcome = await h.tg.wait_for_message(ALICE)
    t = translator("zh_Hant")
    await h.tg.wait_for(lambda: welcome.text == messages.welcome(t, PUBLIC_LIMIT) or None)
    assert len(h.tg.messages(ALICE)) == 1
    assert welcome.edits == [messages.setting_up(t)]
    assert welcome.text == messages.welcome(t, PUBLIC_LIMIT)
    assert h.backend.requests_to("create_session")[0].json["language"] == "zh"


# -- 7. the agent's formatting survives ----------------------------------------------------------


async def test_markdown_becomes_telegram_formatting_and_the_rest_is_escaped(h: Harness) -> None:
    h.backend.queue_turn([adk_text(
        "Done! **60% smaller**, codec `h264 <main>`:\n\n- bitrate 4 Mbps\n- audio kept & AAC"
    )])
    await h.tg.send_text(ALICE, "compress")
    reply = await h.tg.wait_for_message(ALICE, contains="Done!")
    assert reply.parse_mode == "HTML"
    assert reply.text == (
        "Done! 60% smaller, codec h264 <main>:\n\n• bitrate 4 Mbps\n• audio kept & AAC"
    )
    kinds = {e["type"] for e in reply.entities}
    assert {"bold", "code"} <= kinds
    assert "**" not in (reply.text or "")


async def test_refused_entities_fall_back_to_plain_text(h: Harness) -> None:
    await h.tg.send_text(ALICE, "/start")
    await h.tg.wait_for_message(ALICE, contains="compress")
    h.backend.queue_turn([adk_text("**Bold** answer")])
    h.tg.fail_next("sendMessage", 400, "Bad Request: can't parse entities: unsupported start tag")
    await h.tg.send_text(ALICE, "hello")
    reply = await h.tg.wait_for_message(ALICE, after=1, contains="answer")
    await h.idle()
    assert reply.text == "Bold answer" and not reply.entities


async def test_long_formatted_answers_split_between_blocks(h: Harness) -> None:
    paragraphs = [f"**Part {i}**: " + "word " * 150 + "`x<y>`" for i in range(15)]
    h.backend.queue_turn([adk_text("\n\n".join(paragraphs))])
    await h.tg.send_text(ALICE, "explain")
    await h.tg.wait_for(lambda: any("Part 14" in t for t in live(h)), timeout=10)
    await h.idle()
    parts = [m for m in h.tg.messages(ALICE) if not m.deleted]
    assert len(parts) >= 3
    for part in parts:
        assert part.parse_mode == "HTML" and len(part.text or "") <= 4096
        # every chunk was accepted as HTML on its own: tags balanced inside it
        assert "**" not in (part.text or "") and "x<y>" in (part.text or "")
