"""Gettext catalogs (Babel) and locale-aware formatting; every user-facing string goes here.

Locales are ``en``, ``zh_Hans`` and ``zh_Hant``; the catalogs live in the top-level ``locales/``
and the compiled ones ship inside the package, so a plain ``pip install .`` speaks all three.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_timedelta
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations
from babel.units import format_unit


def _locales_dir() -> Path:
    """In a source checkout the catalogs are the top-level ``locales/`` folder; installed,
    they ship inside the package as ``bot/locales/`` (setup.py copies them there)."""
    root = Path(__file__).parent.parent
    if (root / "pyproject.toml").is_file() and (root / "locales").is_dir():
        return root / "locales"
    return Path(__file__).parent / "locales"


LOCALES_DIR = _locales_dir()
DOMAIN = "bot"
DEFAULT_LOCALE = "en"
SUPPORTED = ("en", "zh_Hans", "zh_Hant")
LANGUAGE_NAMES = {"en": "English", "zh_Hans": "简体中文", "zh_Hant": "繁體中文"}


def resolve_locale(code: str | None) -> str:
    """Map a Telegram ``language_code`` (an IETF tag) to one of our locales."""
    if not code:
        return DEFAULT_LOCALE
    if code in SUPPORTED:
        return code
    try:
        parsed = Locale.parse(code.replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return DEFAULT_LOCALE
    if parsed.language != "zh":
        return DEFAULT_LOCALE
    if parsed.script == "Hant" or parsed.territory in {"TW", "HK", "MO"}:
        return "zh_Hant"
    return "zh_Hans"


def choose_locale(stored: str | None, user_code: str | None) -> str:
    """The chat's stored choice wins; otherwise the sender's Telegram language."""
    if stored in SUPPORTED:
        return stored
    return resolve_locale(user_code)


def backend_language(locale: str) -> str:
    """The backend knows ``en`` and ``zh`` only."""
    return "zh" if locale.startswith("zh") else "en"


@cache
def _catalog(locale: str) -> NullTranslations:
    translations = Translations.load(str(LOCALES_DIR), [locale], domain=DOMAIN)
    return translations


@dataclass(frozen=True)
class Translator:
    """Bound to one locale: ``t._("...")`` and ``t.n_(one, many, n)`` plus formatting."""

    locale: str

    @property
    def _catalog(self) -> NullTranslations:
        return _catalog(self.locale)

    def _(self, message: str) -> str:
        return self._catalog.gettext(message)

    def n_(self, singular: str, plural: str, n: int) -> str:
        return self._catalog.ngettext(singular, plural, n)

    @property
    def is_chinese(self) -> bool:
        return self.locale.startswith("zh")

    def number(self, value: float, digits: int = 1) -> str:
        pattern = "#,##0." + "#" * digits if digits else "#,##0"
        return format_decimal(value, format=pattern, locale=self.locale)

    def percent(self, ratio: float, *, signed: bool = False) -> str:
        """-0.75 -> "-75%" ("+5%" when ``signed`` and growing), in the locale's style."""
        pattern = "+#,##0%;-#,##0%" if signed else "#,##0%"
        return format_percent(ratio, format=pattern, locale=self.locale)

    def ago(self, timestamp: float, now: float | None = None) -> str:
        """How long ago, the way a person reads it: "2 hours ago" / "2小时前"."""
        elapsed = max(0.0, (time.time() if now is None else now) - timestamp)
        return format_timedelta(timedelta(seconds=-elapsed), add_direction=True,
                                threshold=0.9, locale=self.locale)

    def size(self, n_bytes: int | float) -> str:
        """48.2 MB: sizes the way the phone would print them."""
        units = ("byte", "kilobyte", "megabyte", "gigabyte")
        value = float(n_bytes)
        index = 0
        while value >= 1000 and index < len(units) - 1:
            value /= 1000
            index += 1
        pattern = "#,##0" if index == 0 else "#,##0.0"
        return format_unit(
            value, f"digital-{units[index]}", length="short", format=pattern, locale=self.locale
        )

    def duration(self, seconds: float) -> str:
        """1 min 30 sec / 1分钟30秒."""
        total = max(0, round(seconds))
        hours, rest = divmod(total, 3600)
        minutes, secs = divmod(rest, 60)
        parts = []
        if hours:
            parts.append(format_unit(hours, "duration-hour", length="short", locale=self.locale))
        if minutes:
            parts.append(
                format_unit(minutes, "duration-minute", length="short", locale=self.locale)
            )
        if secs or not parts:
            parts.append(format_unit(secs, "duration-second", length="short", locale=self.locale))
        return ("" if self.is_chinese else " ").join(parts)


def translator(locale: str) -> Translator:
    return Translator(locale if locale in SUPPORTED else DEFAULT_LOCALE)
