"""English, Simplified and Traditional Chinese through the real Application."""

from __future__ import annotations

import pytest

from bot.conversation import local_messages, messages
from bot.i18n import translator
from bot.sandbox.backend import adk_call, make_draft, sleep_frame
from bot.sandbox.harness import Harness

PUBLIC_LIMIT = 20_000_000  # what the public Bot API lets bots fetch

CASES = [
    # (telegram language_code, our locale, backend session language)
    ("zh-hans", "zh_Hans", "zh"),
    ("zh-CN", "zh_Hans", "zh"),
    ("zh-hant", "zh_Hant", "zh"),
    ("zh-TW", "zh_Hant", "zh"),
    ("zh-HK", "zh_Hant", "zh"),
    ("pt-br", "en", "en"),
    (None, "en", "en"),
]


def test_catalogs_really_differ() -> None:
    """The checks below mean something only if the three catalogs say different things."""
    welcome = {loc: messages.welcome(translator(loc), PUBLIC_LIMIT)
               for loc in ("en", "zh_Hans", "zh_Hant")}
    assert len(set(welcome.values())) == 3


@pytest.mark.parametrize(("code", "locale", "backend_language"), CASES)
async def test_welcome_and_session_language(
    h: Harness, code: str | None, locale: str, backend_language: str
) -> None:
    user_id = 5000 + CASES.index((code, locale, backend_language))
    user = h.tg.user(user_id, language_code=code)
    await h.tg.send_text(user_id, "/start", user=user)
    welcome = await h.tg.wait_for_message(user_id)
    expected = messages.welcome(translator(locale), PUBLIC_LIMIT)
    await h.tg.wait_for(lambda: welcome.text == expected or None)
    assert welcome.edits == [messages.setting_up(translator(locale))]
    await h.tg.send_text(user_id, "hello", user=user)
    await h.tg.wait_for_message(user_id, after=1)
    await h.idle()
    assert h.backend.requests_to("create_session")[0].json["language"] == backend_language


@pytest.mark.parametrize("harness_options", [{"still_working_seconds": 0.3}])
@pytest.mark.parametrize(("code", "locale"), [("zh-hans", "zh_Hans"), ("zh-tw", "zh_Hant"),
                                              ("xx-unknown", "en")])
async def test_error_summary_and_progress_in_the_users_script(
    h: Harness, code: str, locale: str
) -> None:
    t = translator(locale)
    user_id = 6001
    user = h.tg.user(user_id, language_code=code)

    # the live status, then a no-text turn summarised as a timeline
    h.backend.queue_turn([adk_call("music", {}), sleep_frame(0.9)],
                         draft=make_draft(bgm=("Lo-fi", 0.35)))
    await h.tg.send_text(user_id, "add music", user=user)
    summary = await h.tg.wait_for_message(user_id, contains="Lo-fi", timeout=10)
    await h.idle()
    status = [m for m in h.tg.messages(user_id) if m.deleted]
    assert status and status[0].params["text"] == local_messages.starting(t)
    assert t._("Video") in (summary.text or "") and t._("Music") in (summary.text or "")
    assert (summary.text or "").startswith(messages.done_with_summary(t, "").strip()[:4])

    # 2001 with the register link
    record = await h.runtime.svc.store.get_chat(user_id)
    assert record is not None
    h.backend.fail("run_sse", 2001)
    before = len(h.tg.messages(user_id))
    await h.tg.send_text(user_id, "more", user=user)
    reply = await h.tg.wait_for_message(user_id, after=before, contains="register?bind=")
    expected = messages.error_message(
        t, _no_credits(), anon_user_id=record.anon_user_id, operator=False
    )
    assert reply.text == expected


def _no_credits() -> Exception:
    from bot.backend.errors import NoCredits

    return NoCredits("no credits")


async def test_language_choice_is_stored_and_survives_restart(h: Harness) -> None:
    user_id = 7001
    user = h.tg.user(user_id, language_code="en")
    await h.tg.send_text(user_id, "/language", user=user)
    menu = await h.tg.wait_for_message(user_id)
    assert [b["text"] for b in menu.buttons] == ["English", "简体中文", "繁體中文"]
    await h.tg.press_button(user_id, menu.message_id, "lang:zh_Hant", user=user)
    done = await h.tg.wait_for_message(user_id, after=1)
    assert done.text == messages.language_set(translator("zh_Hant"), "繁體中文")
    await h.restart()
    before = len(h.tg.messages(user_id))
    await h.tg.send_text(user_id, "/start", user=user)
    welcome = await h.tg.wait_for_message(user_id, after=before)
    expected = messages.welcome(translator("zh_Hant"), PUBLIC_LIMIT)
    await h.tg.wait_for(lambda: welcome.text == expected or None)
    # the next backend session speaks Chinese
    await h.tg.send_text(user_id, "hello", user=user)
    await h.tg.wait_for_message(user_id, after=before + 1)
    await h.idle()
    assert h.backend.requests_to("create_session")[-1].json["language"] == "zh"


async def test_group_choice_wins_over_the_senders_language(h: Harness) -> None:
    group, admin = -100777, 7101
    h.tg.set_admins(group, [admin])
    en_admin = h.tg.user(admin, language_code="en")
    await h.tg.send_text(group, "/language", user=en_admin, chat_type="supergroup")
    menu = await h.tg.wait_for_message(group)
    await h.tg.press_button(group, menu.message_id, "lang:zh_Hans", user=en_admin)
    await h.tg.wait_for_message(group, after=1)
    before = len(h.tg.messages(group))
    await h.tg.send_text(group, "/start", user=h.tg.user(7102, language_code="en"),
                         chat_type="supergroup")
    welcome = await h.tg.wait_for_message(group, after=before)
    zh = translator("zh_Hans")
    expected = messages.welcome(zh, PUBLIC_LIMIT) + "\n\n" + messages.group_hint(zh)
    await h.tg.wait_for(lambda: welcome.text == expected or None)


@pytest.mark.parametrize("words", ["导出", "匯出", "導出"])
async def test_chinese_export_words_work_in_an_english_chat(h: Harness, words: str) -> None:
    await h.tg.send_text(8001, words, user=h.tg.user(8001, language_code="en"))
    reply = await h.tg.wait_for_message(8001)
    assert reply.text == messages.nothing_to_export(translator("en"))
    assert h.backend.requests_to("run_sse") == []


async def test_command_menu_is_localized(h: Harness) -> None:
    default = {c["command"]: c["description"] for c in h.tg.commands()}
    chinese = {c["command"]: c["description"] for c in h.tg.commands(language_code="zh")}
    assert set(default) == set(chinese)
    assert default["export"] != chinese["export"]
