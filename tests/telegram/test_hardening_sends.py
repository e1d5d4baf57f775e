"""Hardening of what the bot sends (issue 23, items 7 and 18): Telegram's 5xx decided per
method, direct answers throttled, a flood wait kept out of the chat's lock. Through the real
Application against the fake Bot API."""

from __future__ import annotations

import logging

import pytest

from bot.sandbox.harness import Harness

ALICE = 3301
BOB = 3302
QUESTION = "tell me about the pacing"


def texts(h: Harness, chat: int = ALICE) -> list[str]:
    return [m.text or "" for m in h.tg.messages(chat) if not m.deleted]


# -- item 7: a 5xx is retried where a retry cannot double, once with a note where it can ----


async def test_an_edit_answered_5xx_again_and_again_is_retried_until_it_lands(
    h: Harness,
) -> None:
    for _ in range(4):  # more than the three retries every call had
        h.tg.fail_next("editMessageText", 502, "Bad Gateway")
    await h.tg.send_text(ALICE, QUESTION)
    await h.tg.wait_for(
        lambda: any("I can help" in t and "pacing" in t for t in h.tg.transcript(ALICE)),
        timeout=40,
    )
    await h.idle(timeout=40)
    edits = h.tg.calls_of("editMessageText")
    assert [c.ok for c in edits] == [False] * 4 + [True]
    # The "Setting up…" line became the answer: one message, edited, nothing lost or doubled.
    bot_lines = [line for line in h.tg.transcript(ALICE) if line.startswith("bot:")]
    assert len(bot_lines) == 1 and "(edited)" in bot_lines[0]


async def test_a_send_answered_5xx_after_telegram_sent_it_is_repeated_once_with_a_note(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    # A proxy loses Telegram's answers: the sendMessage arrives, the bot sees 502.
    h.tg.fail_after_next("sendMessage", 502, "Bad Gateway", times=2)
    await h.tg.send_text(ALICE, "/help")
    await h.tg.wait_for(lambda: any(c.ok for c in h.tg.calls_of("sendMessage")), timeout=20)
    await h.idle(timeout=20)
    helps = [c for c in h.tg.calls_of("sendMessage")
             if c.params.get("text") == h.tg.calls_of("sendMessage")[0].params.get("text")]
    # Not silently doubled and doubled again: one repeat at most, and the log says so.
    assert len(helps) == 2
    notes = [r for r in caplog.records if r.levelno >= logging.WARNING
             and "sendMessage" in r.getMessage() and "twice" in r.getMessage()]
    assert len(notes) == 1


async def test_a_send_refused_before_telegram_took_it_arrives_exactly_once(h: Harness) -> None:
    h.tg.fail_next("sendMessage", 502, "Bad Gateway")
    await h.tg.send_text(ALICE, "/help")
    await h.tg.wait_for(lambda: texts(h), timeout=20)
    await h.idle()
    assert len(texts(h)) == 1
    assert [c.ok for c in h.tg.calls_of("sendMessage")] == [False, True]
