"""The bot's words about /settings: the menu, its buttons and the default's line under an
upload. Each goes through gettext, as in ``messages.py``."""

from __future__ import annotations

from bot.conversation.messages import _
from bot.i18n import Translator

change_button = _("⚙️ Change")


def title(t: Translator, topic: bool) -> str:
    return t._("⚙️ Settings for this topic") if topic else t._("⚙️ Settings for this chat")


def preset_value(t: Translator, key: str | None) -> str:
    """A default preset as the menu's line names it; ``None``: no default."""
    values = {
        None: t._("off"),
        "small": t._("smaller file, same quality"),
        "16": t._("16 MB (WhatsApp)"),
        "10": t._("10 MB (Discord)"),
        "50": t._("50 MB"),
        "720": t._("720p"),
    }
    return values.get(key, key or "")


def preset_button(t: Translator, key: str | None) -> str:
    if key is None:
        return t._("No default")
    if key == "small":
        return t._("Smaller")
    return preset_value(t, key)


def cap_value(t: Translator, cap: int | None) -> str:
    return f"{cap}p" if cap else t._("off")


def cap_button(t: Translator, cap: int | None) -> str:
    # TRANSLATORS: a /settings button: the short side of the compressed video at most {cap}
    return t._("Up to {cap}p").format(cap=cap) if cap else t._("No cap")


def menu(t: Translator, *, topic: bool, preset: str | None, language: str,
         codec: str | None, cap: str | None, group: bool) -> str:
    """The /settings message; ``codec``/``cap`` are shown only when compressing here."""
    lines = [
        title(t, topic),
        "",
        t._("🎯 Default for new videos: {value}").format(value=preset),
        t._("🌐 Language: {language}").format(language=language),
    ]
    if codec is not None:
        lines.append(t._("🎞 Codec: {codec}").format(codec=codec))
    if cap is not None:
        lines.append(t._("📐 Resolution cap: {cap}").format(cap=cap))
    lines += ["", t._(
        "With a default, each new video is compressed to it right away; words sent with the "
        "video win over it."
    )]
    if codec is not None or cap is not None:
        lines.append(t._("The codec and the resolution cap apply when I compress here."))
    if group:
        lines.append(t._("Only group admins can change these."))
    return "\n".join(lines)


def compressing_to_default(t: Translator, key: str) -> str:
    """Under an upload: the chat's default is what happens next."""
    what = t._("a smaller file, same quality") if key == "small" else preset_value(t, key)
    return t._("Compressing to {preset} — your default.").format(preset=what)
