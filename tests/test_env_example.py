"""`.env.example` is the operator's list of settings: it names every one, and loads as is."""

from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values

from bot.config import Settings, load_settings

EXAMPLE = Path(__file__).parent.parent / ".env.example"


def test_every_setting_is_listed_with_its_meaning() -> None:
    listed = set(dotenv_values(EXAMPLE))
    expected = {name.upper() for name in Settings.model_fields}
    assert listed == expected, "add the missing settings (with a comment line) to .env.example"
    lines = EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[index - 1].startswith("# "), f"{line}: say what it means above it"


def test_the_defaults_it_shows_are_valid() -> None:
    values = {k: v for k, v in dotenv_values(EXAMPLE).items() if v}
    settings = load_settings(**{k.lower(): v for k, v in values.items()},
                             telegram_bot_token="1:x")
    defaults = load_settings(telegram_bot_token="1:x")
    for name in Settings.model_fields:
        assert getattr(settings, name) == getattr(defaults, name), f"{name.upper()}'s default"
