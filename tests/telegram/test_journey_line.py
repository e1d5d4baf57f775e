"""A place in line (issue 22): requests queued behind running work are told their place with a
number, in one notice edited as the line moves up and removed once it is empty."""

from __future__ import annotations

from bot.sandbox.backend import adk_call, adk_text, sleep_frame
from bot.sandbox.harness import Harness

ALICE = 5501


async def test_the_line_shows_each_place_and_moves_up(h: Harness) -> None:
    h.backend.queue_turn([adk_call("slow", {}), sleep_frame(1.5), adk_text("first answer")])
    h.backend.queue_turn([adk_call("slow", {}), sleep_frame(1.0), adk_text("second answer")])
    h.backend.queue_turn([adk_text("third answer")])
    await h.tg.send_text(ALICE, "one")
    await h.tg.wait_for(lambda: h.backend.requests_to("run_sse") or None, timeout=5)
    await h.tg.send_text(ALICE, "two")
    notice = await h.tg.wait_for_message(ALICE, contains="Queued — #1", timeout=5)
    assert "“two”" in (notice.text or "")
    await h.tg.send_text(ALICE, "three")
    await h.tg.wait_for(lambda: "#2 “three”" in _text(h, notice.message_id) or None, 5)
    assert "#1 “two”" in _text(h, notice.message_id)
    # "one" answered, "two" runs: "three" moves up to #1.
    await h.tg.wait_for(lambda: "#1: I'll get to “three”" in _text(h, notice.message_id)
                        or None, 10)
    await h.tg.wait_for_message(ALICE, contains="third answer", timeout=10)
    await h.idle()
    (now,) = [m for m in h.tg.messages(ALICE) if m.message_id == notice.message_id]
    assert now.deleted, "the line is gone once nothing waits"
    queued = [m for m in h.tg.messages(ALICE) if "Queued" in (m.text or "")]
    assert len(queued) == 1, "one notice, edited, not one per message"


def _text(h: Harness, message_id: int) -> str:
    (message,) = [m for m in h.tg.messages(ALICE) if m.message_id == message_id]
    return message.text or ""


async def test_the_line_keeps_moving_after_a_restart(h: Harness) -> None:
    h.backend.queue_turn([adk_call("slow", {}), sleep_frame(30), adk_text("never seen")])
    await h.tg.send_text(ALICE, "one")
    await h.tg.wait_for(lambda: h.backend.requests_to("run_sse") or None, timeout=5)
    await h.tg.send_text(ALICE, "two")
    notice = await h.tg.wait_for_message(ALICE, contains="Queued — #1", timeout=5)
    await h.restart()
    await h.tg.wait_for(lambda: len(h.backend.requests_to("run_sse")) == 2 or None, 15)
    await h.idle()
    (now,) = [m for m in h.tg.messages(ALICE) if m.message_id == notice.message_id]
    assert now.deleted, "the restarted bot still took the line down when “two” started"
