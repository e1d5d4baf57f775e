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
    assert [c.ok for c in edits[:5]] == [False] * 4 + [True]
    # The "Setting up…" line became the answer: one message, edited, nothing lost or doubled
    # (the live status the retries' delay brought up is gone again).
    bot_lines = [line for line in h.tg.transcript(ALICE)
                 if line.startswith("bot:") and not line.startswith("bot: (deleted)")]
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


# -- item 18: direct answers throttled; a flood wait neither holds the chat nor other chats --


def limited_calls(method: str) -> float:
    """How many ``method`` calls went through the rate limiter (its wait histogram)."""
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value("bot_telegram_limiter_wait_seconds_count",
                                      {"method": method})
    return value or 0.0


async def test_a_direct_answer_goes_through_the_rate_limiter(h: Harness) -> None:
    before = limited_calls("sendMessage")
    await h.tg.send_text(-100777, "/help", chat_type="supergroup")
    await h.tg.wait_for(lambda: texts(h, -100777), timeout=20)
    await h.idle()
    assert limited_calls("sendMessage") == before + 1


FLOOD = "Too Many Requests: retry after 6"


async def test_a_flood_wait_on_a_direct_answer_does_not_hold_up_the_chats_cancel(
    h: Harness,
) -> None:
    h.backend.queue_turn([], hold=60)  # a turn that runs until it is stopped
    await h.tg.send_text(ALICE, QUESTION)
    await h.tg.wait_for(lambda: h.backend.requests_to("run_sse") and h.runtime.queue.active,
                        timeout=20)
    h.tg.fail_next("sendMessage", 429, FLOOD, retry_after=6)
    await h.tg.send_text(ALICE, "/help")
    await h.tg.wait_for(
        lambda: any(c.error_code == 429 for c in h.tg.calls_of("sendMessage")), timeout=20
    )
    await h.tg.send_text(ALICE, "/cancel")
    # The turn stops while /help's answer still waits out Telegram's flood limit.
    await h.tg.wait_for(lambda: not h.runtime.queue.active, timeout=30)
    assert await h.runtime.svc.store.count_unfinished() == 0
    assert not any("Supported formats" in t for t in texts(h))
    await h.tg.wait_for(lambda: any("Supported formats" in t for t in texts(h)), timeout=30)


async def test_a_flood_wait_in_one_chat_does_not_hold_up_another(h: Harness) -> None:
    h.tg.fail_next("sendMessage", 429, FLOOD, retry_after=6)
    await h.tg.send_text(ALICE, "/help")
    await h.tg.wait_for(
        lambda: any(c.error_code == 429 for c in h.tg.calls_of("sendMessage")), timeout=20
    )
    await h.tg.send_text(BOB, "/help")
    await h.tg.wait_for(lambda: texts(h, BOB), timeout=30)
    assert not texts(h, ALICE)  # Bob was answered while Alice's answer waited
    await h.tg.wait_for(lambda: texts(h, ALICE), timeout=30)
