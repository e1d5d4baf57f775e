"""Every inline button's callback data, made and read in one place.

Telegram gives a button 64 bytes of data and delivers whatever a client sends, so each
format is parsed strictly (anything else is ``None``), and a button that only its asker may
press carries who asked (``<prefix><value>:<user id>``).
"""

from __future__ import annotations

EXPORT = "export"
NEW_CONFIRM = "new:yes"
NEW_ABORT = "new:no"
LANGUAGE = "lang:"
HISTORY = "hist:"
PRESET = "pre:"
STOP = "stop:"
FIT = "fit:"
RETRY = "retry:"


def _owned(prefix: str, value: int | str, asker: int | None) -> str:
    return f"{prefix}{value}:{asker if isinstance(asker, int) else 0}"


def _read(prefix: str, data: str) -> tuple[str, int] | None:
    """``(value, asker)`` of ``<prefix><value>:<asker>``."""
    if not data.startswith(prefix):
        return None
    value, sep, asker = data.removeprefix(prefix).partition(":")
    if not sep or not value or not asker.lstrip("-").isdigit():
        return None
    return value, int(asker)


def _read_int(prefix: str, data: str) -> tuple[int, int] | None:
    read = _read(prefix, data)
    if read is None or not read[0].isdigit():
        return None
    return int(read[0]), read[1]


def preset(key: str, asker: int | None) -> str:
    return _owned(PRESET, key, asker)


def parse_preset(data: str, keys: tuple[str, ...]) -> tuple[str, int] | None:
    """``(preset key, asker)``; ``None`` for anything else or a key not in ``keys``."""
    read = _read(PRESET, data)
    return read if read is not None and read[0] in keys else None


def stop(job_id: int, asker: int | None) -> str:
    """A live status's ❌: stops that one job."""
    return _owned(STOP, job_id, asker)


def parse_stop(data: str) -> tuple[int, int] | None:
    return _read_int(STOP, data)


def fit(target_bytes: int, asker: int | None) -> str:
    """Under an export over the size asked for: fit the original to it here."""
    return _owned(FIT, target_bytes, asker)


def parse_fit(data: str) -> tuple[int, int] | None:
    return _read_int(FIT, data)


def retry(job_id: int, asker: int | None) -> str:
    """Under a failure: run that job's request again."""
    return _owned(RETRY, job_id, asker)


def parse_retry(data: str) -> tuple[int, int] | None:
    return _read_int(RETRY, data)


def history(export_id: int) -> str:
    return f"{HISTORY}{export_id}"


def parse_history(data: str) -> int | None:
    value = data.removeprefix(HISTORY)
    return int(value) if data.startswith(HISTORY) and value.isdigit() else None


def language(locale: str) -> str:
    return f"{LANGUAGE}{locale}"


def parse_language(data: str) -> str | None:
    return data.removeprefix(LANGUAGE) if data.startswith(LANGUAGE) else None


SETTINGS_OPEN = "set:open"
"""Under an upload compressed to the chat's default: opens /settings."""
SETTING = "set:"
SETTING_FIELDS = frozenset({"p", "l", "c", "r"})
"""/settings' buttons: ``set:<field>:<value>``, the default preset (p), the language (l), the
local codec (c) and resolution cap (r); the value is checked where it is applied."""


def setting(field: str, value: str) -> str:
    return f"{SETTING}{field}:{value}"


def parse_setting(data: str) -> tuple[str, str] | None:
    """``(field, value)`` of a /settings button; ``None`` for anything else."""
    if not data.startswith(SETTING):
        return None
    field, sep, value = data.removeprefix(SETTING).partition(":")
    if not sep or field not in SETTING_FIELDS or not value or len(value) > 16:
        return None
    if not value.replace("_", "").isalnum() or not value.isascii():
        return None
    return field, value
