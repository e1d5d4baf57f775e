"""/settings, remembered per chat or forum topic: a default preset each new video is
compressed to with no words, the language, and (when compressing here) the codec and a
resolution cap.

One message with inline buttons shows the current values; a press edits that same message.
Who may press is checked by the caller (``telegram/buttons.py``: admins only in groups). The
language is the chat's own (``ChatStore.set_language``, as /language keeps it); the rest is a
``ChatSettings`` row per chat or topic.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from bot.compress import Request
from bot.conversation import callbacks, gains
from bot.conversation import settings_messages as sm
from bot.conversation.chat import Button, Keyboard, is_group
from bot.conversation.context import Ctx
from bot.conversation.media import MediaItem
from bot.i18n import LANGUAGE_NAMES, SUPPORTED, Translator, translator
from bot.store import ChatSettings

log = logging.getLogger(__name__)

DEFAULTS: tuple[str | None, ...] = (None, "small", "16", "10", "50", "720")
"""What a chat may choose as its default: off, or one of the presets the bot offers."""
CODECS = {"h264": "H.264", "h265": "H.265"}
CAPS: tuple[int | None, ...] = (None, 1080, 720, 480)
"""A resolution cap for the local engine: the short side at most this (None: no cap)."""
OFF = "off"


async def current(ctx: Ctx) -> ChatSettings:
    return await ctx.svc.store.get_settings(ctx.chat.chat_id, ctx.chat.thread_id)


def _offers_codec(ctx: Ctx) -> bool:
    return ctx.svc.local is not None and ctx.svc.local.ffmpeg.has_x265


def _codec(ctx: Ctx, chosen: ChatSettings) -> str:
    """The codec in force: H.265 only while the ffmpeg found can make it."""
    return chosen.codec if chosen.codec in CODECS and _offers_codec(ctx) else "h264"


def render(ctx: Ctx, t: Translator, chosen: ChatSettings) -> tuple[str, Keyboard]:
    """The menu's text and buttons in ``t``'s language, the current values ticked."""
    local = ctx.svc.local is not None
    text = sm.menu(
        t, topic=ctx.chat.thread_id != 0, preset=sm.preset_value(t, chosen.preset),
        language=LANGUAGE_NAMES[t.locale], group=is_group(ctx.chat.chat_id),
        codec=CODECS[_codec(ctx, chosen)] if local else None,
        cap=sm.cap_value(t, chosen.max_short_side) if local else None,
    )

    def tick(label: str, on: bool) -> str:
        return f"✓ {label}" if on else label

    presets = [Button(tick(sm.preset_button(t, key), key == chosen.preset),
                      data=callbacks.setting("p", key or OFF)) for key in DEFAULTS]
    rows: list[Sequence[Button]] = [presets[i:i + 2] for i in range(0, len(presets), 2)]
    rows.append([Button(tick(LANGUAGE_NAMES[code], code == t.locale),
                        data=callbacks.setting("l", code)) for code in SUPPORTED])
    if _offers_codec(ctx):
        rows.append([Button(tick(name, code == _codec(ctx, chosen)),
                            data=callbacks.setting("c", code)) for code, name in CODECS.items()])
    if local:
        rows.append([Button(tick(sm.cap_button(t, cap), cap == chosen.max_short_side),
                            data=callbacks.setting("r", str(cap or 0))) for cap in CAPS])
    return text, rows


async def show(ctx: Ctx) -> None:
    """/settings (or [Change] under an upload): the menu as a new message."""
    text, buttons = render(ctx, ctx.t, await current(ctx))
    await ctx.chat.send(text, buttons=buttons)


def _changed(ctx: Ctx, chosen: ChatSettings, field: str, value: str) -> ChatSettings | None:
    """``chosen`` with one button's value applied; ``None`` for a value not on offer."""
    if field == "p":
        key = None if value == OFF else value
        return dataclasses.replace(chosen, preset=key) if key in DEFAULTS else None
    if field == "c":
        ok = value == "h264" or (value == "h265" and _offers_codec(ctx))
        return dataclasses.replace(chosen, codec=value) if ok else None
    if field == "r" and value.isdigit():
        cap = int(value) or None
        ok = cap in CAPS and ctx.svc.local is not None
        return dataclasses.replace(chosen, max_short_side=cap) if ok else None
    return None


async def change(ctx: Ctx, message_id: int | None, field: str, value: str) -> None:
    """A press on the menu: store the value, then edit the menu to show it (in the new
    language when that is what changed)."""
    chat, store = ctx.chat, ctx.svc.store
    chosen = await current(ctx)
    t = ctx.t
    if field == "l":
        if value not in SUPPORTED:
            return
        await store.set_language(chat.chat_id, value)
        t = translator(value)
    else:
        new = _changed(ctx, chosen, field, value)
        if new is None:
            log.info("chat %s: settings press %s=%s ignored", chat.chat_id, field, value)
            return
        await store.save_settings(chat.chat_id, chat.thread_id, new)
        chosen = new
    text, buttons = render(ctx, t, chosen)
    if message_id is None:
        await chat.send(text, buttons=buttons)
    else:
        await chat.edit(message_id, text, buttons=buttons)


# -- applied ------------------------------------------------------------------------------


async def default_for(ctx: Ctx, items: Sequence[MediaItem]) -> str | None:
    """The preset a new upload is compressed to with no words: the chat's default, for
    uploads with a video in them."""
    if not any(gains.is_video(item) for item in items):
        return None
    return (await current(ctx)).preset


def change_buttons(ctx: Ctx) -> Keyboard:
    """Under an upload compressed to the default: [Change] opens /settings."""
    return [[Button(sm.change_button(ctx.t), data=callbacks.SETTINGS_OPEN)]]


async def for_encode(ctx: Ctx, request: Request) -> tuple[Request, int | None]:
    """The local encode's request with the chat's codec, and its resolution cap. A codec
    asked for in words (H.265) is kept; the cap lowers, never raises, what was asked."""
    chosen = await current(ctx)
    if _codec(ctx, chosen) == "h265" and request.codec == "h264":
        request = dataclasses.replace(request, codec="h265")
    return request, chosen.max_short_side
