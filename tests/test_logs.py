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
