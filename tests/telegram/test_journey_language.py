"""The agent speaks the chat's language (issue 22): Traditional Chinese is asked for in
Traditional Chinese, once per session, as Simplified already was by the session's language."""

from __future__ import annotations

from bot.sandbox.harness import Harness

ALICE = 5401
BOB = 5402
HANT_NOTE = "（從現在起請用繁體中文回答。）"


def _sent(h: Harness) -> list[str]:
    return [r.json["new_message"]["parts"][0]["text"] for r in h.backend.requests_to("run_sse")]


async def test_a_traditional_chinese_chat_addresses_the_agent_in_traditional(
    h: Harness,
) -> None:
    user = h.tg.user(ALICE, language_code="zh-tw")
    await h.tg.send_text(ALICE, "把影片壓小一點", user=user)
    await h.tg.wait_for(lambda: len(h.backend.requests_to("run_sse")) == 1 or None)
    await h.idle()
    await h.tg.send_text(ALICE, "再小一點", user=user)
    await h.tg.wait_for(lambda: len(h.backend.requests_to("run_sse")) == 2 or None)
    first, second = _sent(h)
    assert first.startswith(HANT_NOTE) and first.endswith("把影片壓小一點")
    assert second == "再小一點", "told once per session"
    (session,) = h.backend.sessions.values()
    assert session.language == "zh"


async def test_a_simplified_chinese_chat_needs_no_note(h: Harness) -> None:
    user = h.tg.user(BOB, language_code="zh-cn")
    await h.tg.send_text(BOB, "把视频压小一点", user=user)
    await h.tg.wait_for(lambda: h.backend.requests_to("run_sse") or None)
    assert _sent(h) == ["把视频压小一点"]
