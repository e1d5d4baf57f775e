"""Secrets never reach a log line, not even inside a traceback."""

from __future__ import annotations

import logging

import pytest

from bot.logs import RedactingFormatter


def test_tokens_are_masked_in_messages_and_tracebacks() -> None:
    formatter = RedactingFormatter("%(message)s", ["123:BOT-SECRET", "operator-secret"])
    try:
        raise RuntimeError("GET https://api.telegram.org/bot123:BOT-SECRET/getMe failed")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1,
                                   "auth %s and %s", ("Bearer nmv_usr_abc", "operator-secret"),
                                   sys.exc_info())
    text = formatter.format(record)
    for leak in ("BOT-SECRET", "nmv_usr_abc", "operator-secret"):
        assert leak not in text
    assert "Bearer ***" in text and "/bot***" in text


@pytest.mark.parametrize("url", ["https://x/bot999:AAAbbb-cc_d/sendMessage"])
def test_bot_token_in_urls_is_masked_even_when_unknown(url: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, url, (), None)
    assert "AAAbbb" not in RedactingFormatter("%(message)s", []).format(record)


def test_text_lines_name_the_chat_update_job_and_render_they_are_about() -> None:
    from bot import logs

    handler_filter = logs.ContextFilter()
    formatter = logs.formatter("text", ["123:BOT-SECRET"])

    def line(message: str) -> str:
        record = logging.LogRecord("bot.x", logging.INFO, __file__, 1, message, (), None)
        handler_filter.filter(record)
        return formatter.format(record)

    assert line("idle").endswith("bot.x: idle")
    with logs.scope(chat_id=77, update_id=5, job_id=9):
        assert line("turn").endswith("turn chat=77 update=5 job=9")
        with logs.scope(render_id="render_1"):
            assert line("polling").endswith("job=9 render=render_1")
    assert line("after").endswith("bot.x: after")
