"""Understanding a request without the agent: English and Chinese free text, and presets."""

from __future__ import annotations

from bot.compress.types import Request


def parse_request(text: str) -> Request:
    """What the text asks for; anything not understood gives ``Request()`` (the default)."""
    raise NotImplementedError


def preset_request(key: str) -> Request:
    """The request behind one of the bot's preset buttons ("small", "10", "16", "25", "50", "720")."""
    raise NotImplementedError
