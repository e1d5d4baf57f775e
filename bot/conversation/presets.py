"""One-tap presets under an upload: the common goals, each a ready instruction for the agent.

A button's callback data is ``pre:<preset>:<uploader id>`` (``callbacks.preset``, well under
Telegram's 64 bytes; the id is informative only: who may press is checked against the stored
uploader);
the instruction is built when it is tapped, from the original stored at upload, so it carries
the size and duration the agent needs to pick a bitrate.
"""

from __future__ import annotations

from bot.conversation import callbacks, messages
from bot.conversation.chat import Button, Keyboard
from bot.conversation.context import Ctx
from bot.store import Source

KEYS = ("small", "16", "10", "25", "50", "720")
"""Every preset a button may carry ("25" only on buttons sent before Discord's 10 MB)."""
OFFERED = ("16", "10", "50")
MB = 1_000_000


def keyboard(ctx: Ctx, source: Source) -> Keyboard:
    """The presets that make sense for this original: no "fit 50 MB" for a 10 MB clip."""
    t = ctx.t
    uid = source.user_id or 0
    size, height = source.video.size, source.video.height
    width = source.video.width
    fits = [k for k in OFFERED if not size or size > int(k) * MB]
    short_side = min(width, height) if width and height else None
    extra = ["720"] if short_side is None or short_side > 720 else []

    def button(key: str) -> Button:
        return Button(messages.preset_label(t, key), data=callbacks.preset(key, uid))

    rows: list[list[Button]] = [[button("small")]]
    rest = [*fits, *extra]
    rows += [[button(k) for k in rest[i:i + 2]] for i in range(0, len(rest), 2)]
    return rows


def parse(data: str) -> tuple[str, int] | None:
    """``(preset, uploader id)`` from a button's data; ``None`` for anything else."""
    return callbacks.parse_preset(data, KEYS)


async def instruction(ctx: Ctx, key: str) -> str | None:
    """The localized instruction for ``key``; ``None`` when the project has no original."""
    source = await ctx.svc.store.get_source(ctx.chat.chat_id, ctx.chat.thread_id)
    if source is None:
        return None
    return messages.preset_instruction(ctx.t, key, source.video)


def smaller_keyboard(ctx: Ctx, source: Source) -> Keyboard:
    """Only the presets that make the file smaller by a measure (720p, a size to fit): for a
    video too large to work on as it is."""
    return [row for row in keyboard(ctx, source)
            if all(b.data and not b.data.startswith(f"{callbacks.PRESET}small:") for b in row)]
