"""/settings, remembered per chat (issue 22): a default preset each new video is compressed
to with no words, the language, per forum topic, admins only in groups, across restarts.
Through the real Application against the fakes (the backend path; local codec and resolution
cap: test_local_settings.py)."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox.harness import Harness
from bot.sandbox.telegram import BotMessage
from bot.store import ChatSettings

ALICE = 5601
GROUP = -100_560
FORUM = -100_561
ADMIN = 5602
MEMBER = 5603
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(400_000)
WHATSAPP = "under 16 MB for WhatsApp"  # in the 16 MB preset's instruction to the agent


def _sent(h: Harness) -> list[str]:
    return [r.json["new_message"]["parts"][0]["text"] for r in h.backend.requests_to("run_sse")]


def _datas(message: BotMessage) -> list[str]:
    return [str(b.get("callback_data")) for b in message.buttons]


async def _settings(h: Harness, chat_id: int, **options: object) -> BotMessage:
    before = len(h.tg.messages(chat_id))
    await h.tg.send_text(chat_id, "/settings", **options)  # type: ignore[arg-type]
    return await h.tg.wait_for_message(chat_id, contains="Settings", after=before)


async def _press(h: Harness, chat_id: int, menu: BotMessage, data: str,
                 user: int = ALICE) -> BotMessage:
    """Press a settings button; the same message is edited (no new one)."""
    before = len(h.tg.messages(chat_id))
    shown = menu.text
    await h.tg.press_button(chat_id, menu.message_id, data, user=user)
    await h.tg.wait_for(lambda: h.tg.messages(chat_id)[
        [m.message_id for m in h.tg.messages(chat_id)].index(menu.message_id)].text != shown
        or None)
    await h.idle()
    assert len(h.tg.messages(chat_id)) == before, "a press edits the menu, sends nothing"
    return next(m for m in h.tg.messages(chat_id) if m.message_id == menu.message_id)


async def test_settings_show_the_current_values(h: Harness) -> None:
    menu = await _settings(h, ALICE)
    text = menu.text or ""
    assert "Default for new videos: off" in text, text
    assert "Language: English" in text
    # LOCAL_COMPRESSION=off: nothing about the local engine's codec or resolution
    assert "Codec" not in text and "Resolution" not in text
    datas = _datas(menu)
    for data in ("set:p:off", "set:p:small", "set:p:16", "set:p:10", "set:p:50", "set:p:720",
                 "set:l:en", "set:l:zh_Hans", "set:l:zh_Hant"):
        assert data in datas, datas
    assert not [d for d in datas if d.startswith(("set:c:", "set:r:"))]
    current = next(b for b in menu.buttons if b["callback_data"] == "set:p:off")
    assert str(current["text"]).startswith("✓")


async def test_a_default_of_16_mb_compresses_each_new_video_with_no_words(
    h: Harness,
) -> None:
    menu = await _settings(h, ALICE)
    menu = await _press(h, ALICE, menu, "set:p:16")
    assert "Default for new videos: 16 MB (WhatsApp)" in (menu.text or ""), menu.text
    assert next(b for b in menu.buttons
                if b["callback_data"] == "set:p:16")["text"].startswith("✓")

    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", duration=8)
    ack = await h.tg.wait_for_message(ALICE, contains="Received", timeout=20)
    assert "Compressing to 16 MB (WhatsApp) — your default." in (ack.text or ""), ack.text
    assert [(b["text"], b["callback_data"]) for b in ack.buttons] == [
        ("⚙️ Change", "set:open")]
    await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    (instruction,) = _sent(h)
    assert WHATSAPP in instruction, instruction

    # [Change] opens /settings, showing the default
    before = len(h.tg.messages(ALICE))
    await h.tg.press_button(ALICE, ack.message_id, "set:open", user=ALICE)
    again = await h.tg.wait_for_message(ALICE, contains="Settings", after=before)
    assert "16 MB (WhatsApp)" in (again.text or "")


async def test_a_caption_asking_for_something_else_wins_over_the_default(h: Harness) -> None:
    menu = await _settings(h, ALICE)
    await _press(h, ALICE, menu, "set:p:16")
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", duration=8,
                          caption="make it 720p")
    ack = await h.tg.wait_for_message(ALICE, contains="Received", timeout=20)
    assert "your default" not in (ack.text or "")
    await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    await h.idle()
    assert _sent(h) == ["make it 720p"]


async def test_turning_the_default_off_brings_back_the_preset_buttons(h: Harness) -> None:
    menu = await _settings(h, ALICE)
    menu = await _press(h, ALICE, menu, "set:p:small")
    menu = await _press(h, ALICE, menu, "set:p:off")
    assert "Default for new videos: off" in (menu.text or "")
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", duration=8)
    ack = await h.tg.wait_for_message(ALICE, contains="Received", timeout=20)
    await h.idle()
    assert any(d.startswith("pre:small:") for d in _datas(ack)), ack.buttons
    assert _sent(h) == []


async def test_settings_survive_a_restart(h: Harness) -> None:
    menu = await _settings(h, ALICE)
    await _press(h, ALICE, menu, "set:p:16")
    await h.restart()  # a new Application over the same SQLite file
    menu = await _settings(h, ALICE)
    assert "Default for new videos: 16 MB (WhatsApp)" in (menu.text or "")
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", duration=8)
    await h.tg.wait_for_message(ALICE, contains="your default", timeout=20)
    await h.tg.wait_for_message(ALICE, kind="video", timeout=20)
    assert WHATSAPP in _sent(h)[0]


async def test_the_language_is_changed_in_the_same_message_and_kept(h: Harness) -> None:
    menu = await _settings(h, ALICE)
    menu = await _press(h, ALICE, menu, "set:l:zh_Hant")
    assert "語言：繁體中文" in (menu.text or ""), menu.text
    # the one language of the chat, as /language keeps it: the next answers are in it too
    before = len(h.tg.messages(ALICE))
    await h.tg.send_text(ALICE, "/help")
    help_ = await h.tg.wait_for_message(ALICE, after=before)
    assert "/settings" in (help_.text or "") and "語言" in (help_.text or ""), help_.text


async def test_a_forum_topics_default_does_not_leak_into_another_topic(h: Harness) -> None:
    h.tg.set_admins(FORUM, [ADMIN])
    forum = {"chat_type": "supergroup", "is_forum": True}
    menu = await _settings(h, FORUM, user=ADMIN, message_thread_id=11, **forum)
    assert "this topic" in (menu.text or ""), menu.text
    await _press(h, FORUM, menu, "set:p:16", user=ADMIN)
    for topic in (22, 11):
        await h.tg.send_video(FORUM, VIDEO, file_name=f"t{topic}.mp4", duration=8,
                              caption="@rtk_compressor_bot", user=h.tg.user(ADMIN),
                              message_thread_id=topic, **forum)  # type: ignore[arg-type]
        await h.tg.wait_for_message(FORUM, contains=f"t{topic}.mp4", message_thread_id=topic,
                                    timeout=20)
        await h.idle()
    other = next(m for m in h.tg.messages(FORUM, 22) if "t22.mp4" in (m.text or ""))
    assert "your default" not in (other.text or "")
    assert any(d.startswith("pre:") for d in _datas(other))
    chosen = next(m for m in h.tg.messages(FORUM, 11) if "t11.mp4" in (m.text or ""))
    assert "your default" in (chosen.text or "")
    await h.tg.wait_for_message(FORUM, kind="video", message_thread_id=11, timeout=20)
    assert len(_sent(h)) == 1 and WHATSAPP in _sent(h)[0]


async def test_only_admins_change_a_groups_settings(h: Harness) -> None:
    h.tg.set_admins(GROUP, [ADMIN])
    group = {"chat_type": "supergroup", "chat_title": "Video club"}
    member = h.tg.user(MEMBER, language_code="zh-cn")
    menu = await _settings(h, GROUP, user=h.tg.user(ADMIN), **group)
    before = len(h.tg.messages(GROUP))
    await h.tg.press_button(GROUP, menu.message_id, "set:p:16", user=member)
    refusal = await h.tg.wait_for_message(GROUP, after=before)
    assert refusal.text == "只有群管理员才能这么做。", refusal.text  # in the member's language
    await h.idle()
    shown = next(m for m in h.tg.messages(GROUP) if m.message_id == menu.message_id)
    assert shown.text == menu.text and not shown.edits  # nothing changed
    assert await h.runtime.svc.store.get_settings(GROUP, 0) == ChatSettings()
    await h.tg.send_video(GROUP, VIDEO, file_name="g.mp4", duration=8,
                          caption="@rtk_compressor_bot", user=member, **group)  # type: ignore
    ack = await h.tg.wait_for_message(GROUP, contains="g.mp4", timeout=20)
    await h.idle()
    assert "默认" not in (ack.text or "") and _sent(h) == []
    # an admin may
    await _press(h, GROUP, menu, "set:p:50", user=ADMIN)
    assert (await h.runtime.svc.store.get_settings(GROUP, 0)).preset == "50"


async def test_settings_is_in_the_command_menu(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        await h.tg.send_text(ALICE, "/start")
        await h.tg.wait_for_message(ALICE, contains="Hi!")
        names = [c["command"] for c in h.tg.commands()]
        zh = [c["command"] for c in h.tg.commands(language_code="zh")]
    assert "settings" in names and "settings" in zh


async def test_an_export_over_the_defaults_size_says_so(h: Harness) -> None:
    """The default is a size asked for like a tapped preset: never passed off as a fit."""
    menu = await _settings(h, ALICE)
    await _press(h, ALICE, menu, "set:p:16")
    h.backend.render_size = 16_500_000
    await h.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", duration=8,
                          declared_size=19_000_000)
    video = await h.tg.wait_for_message(ALICE, kind="video", timeout=30)
    assert "over the 16.0 MB you asked for" in (video.text or ""), video.text
