"""/settings' callback data is the bot's own, but a client may send anything: parsed strictly."""

from __future__ import annotations

import pytest

from bot.conversation import callbacks


@pytest.mark.parametrize(("field", "value"), [
    ("p", "16"), ("p", "off"), ("l", "zh_Hant"), ("c", "h265"), ("r", "720"), ("r", "0"),
])
def test_a_settings_button_reads_back_what_it_was_made_with(field: str, value: str) -> None:
    data = callbacks.setting(field, value)
    assert len(data.encode()) <= 64
    assert callbacks.parse_setting(data) == (field, value)


@pytest.mark.parametrize("data", [
    "set:", "set:p", "set:p:", "set:x:16", "set:open", "set:p:16:1", "set:p:" + "9" * 17,
    "set:p:１６", "set:p:16 ", "set:l:../en", "pre:16:1", "",
])
def test_anything_else_is_not_a_settings_button(data: str) -> None:
    assert callbacks.parse_setting(data) is None
