"""Updates that are odd but real each get a defined, quiet outcome (issue 10): a button on an
inline or too-old message, a group action with no sender, a mention of a similar name."""

from __future__ import annotations

import logging

import pytest

from bot.sandbox.harness import Harness

ALICE = 3101
GROUP = -100700
ADMIN = 3102


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_press_on_an_inline_message_is_answered_and_ignored(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.tg.enqueue_update({"callback_query": {
        "id": "4242", "from": h.tg.user(ALICE), "chat_instance": "77",
        "inline_message_id": "AgAAAInline", "data": "export",
    }})
    await h.tg.wait_for(lambda: h.tg.calls_of("answerCallbackQuery"), timeout=10)
    await h.idle()
    assert errors(caplog) == []
    assert h.backend.requests == []
    assert h.tg.messages(ALICE) == []


async def test_a_press_on_a_too_old_message_still_counts(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await h.tg.send_text(ALICE, "hello")  # the chat exists and has a project
    await h.tg.wait_for_message(ALICE, contains="hello")
    await h.idle()
    before = len(h.tg.messages(ALICE))
    h.tg.enqueue_update({"callback_query": {
        "id": "4343", "from": h.tg.user(ALICE), "chat_instance": "78", "data": "export",
        # Telegram's InaccessibleMessage: the chat and id, date 0, nothing else
        "message": {"chat": {"id": ALICE, "type": "private"}, "message_id": 1, "date": 0},
    }})
    await h.tg.wait_for(lambda: h.tg.calls_of("answerCallbackQuery"), timeout=10)
    await h.tg.wait_for_message(ALICE, after=before, timeout=10)
    await h.idle()
    assert errors(caplog) == []


async def test_a_group_action_without_a_sender_is_refused(h: Harness) -> None:
    h.tg.set_admins(GROUP, [ADMIN])
    await h.tg.send_text(GROUP, "hi", user=h.tg.user(ADMIN), chat_type="supergroup",
                         chat_title="Video club")  # the group exists
    h.tg.enqueue_update({"message": {
        "message_id": 900, "date": 1_700_000_000,
        "chat": {"id": GROUP, "type": "supergroup", "title": "Video club"},
        "sender_chat": {"id": -100999, "type": "channel", "title": "Some channel"},
        "text": "/new", "entities": [{"type": "bot_command", "offset": 0, "length": 4}],
    }})
    refusal = await h.tg.wait_for_message(GROUP, contains="Only group admins", timeout=10)
    await h.idle()
    assert not any(b.buttons for b in h.tg.messages(GROUP)), refusal


async def test_a_mention_of_a_longer_username_is_not_a_mention(h: Harness) -> None:
    for text in ("@rtk_compressor_bot_x shorten it", "@rtk_compressor_bots shorten it",
                 "mail me at me@rtk_compressor_bot.example"):
        await h.tg.send_text(GROUP, text, user=h.tg.user(ADMIN), chat_type="supergroup",
                             chat_title="Video club")
    await h.idle()
    assert h.tg.messages(GROUP) == []
    assert h.backend.requests_to("run_sse") == []
    await h.tg.send_text(GROUP, "@RTK_Compressor_Bot, shorten it", user=h.tg.user(ADMIN),
                         chat_type="supergroup", chat_title="Video club")
    await h.tg.wait_for_message(GROUP, contains="shorten it", timeout=15)
