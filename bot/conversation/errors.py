"""Telling the person about a backend failure, in their language, with what to do next."""

from __future__ import annotations

import logging

from bot import metrics
from bot.backend.errors import BackendError, FileTooLarge, NoCredits
from bot.conversation import local_messages as lm
from bot.conversation import messages, presets, retry
from bot.conversation.chat import Keyboard
from bot.conversation.context import Ctx

log = logging.getLogger(__name__)


async def report_error(ctx: Ctx, exc: BackendError) -> None:
    """Say what failed and what to do; or, with LOCAL_COMPRESSION=fallback, hand the job to
    this machine (one line says why) when the service cannot do it."""
    metrics.BACKEND_ERRORS.labels(metrics.error_code(exc)).inc()
    log.warning(
        "chat %s: backend %s (code=%s status=%s path=%s): %s",
        ctx.chat.chat_id, type(exc).__name__, exc.code, exc.status, exc.path, exc.message,
    )
    if ctx.svc.local is not None:
        from bot.conversation.local import take_over  # local -> media -> this module

        if await take_over(ctx, exc):
            return
    accounts = ctx.svc.accounts
    anon_user_id = None
    if isinstance(exc, NoCredits) and not accounts.is_operator:
        anon_user_id = await accounts.anon_user_id(
            ctx.chat.chat_id, ctx.chat.thread_id, ctx.language
        )
    text = messages.error_message(ctx.t, exc, anon_user_id=anon_user_id,
                                  operator=accounts.is_operator)
    buttons = retry.buttons(ctx, exc)
    if isinstance(exc, FileTooLarge):
        text, buttons = await _too_large(ctx, exc)
    await ctx.chat.send(text, buttons=buttons)


async def _too_large(ctx: Ctx, exc: FileTooLarge) -> tuple[str, Keyboard | None]:
    """4002: a video in the project gets the presets that ask for less (720p, a size to
    fit) as buttons; an upload refused for its size, what to send instead."""
    refused = "/upload" in (exc.path or "")  # then the stored video is an older one
    source = None if refused else await ctx.svc.store.get_source(ctx.chat.chat_id,
                                                                  ctx.chat.thread_id)
    keyboard = presets.smaller_keyboard(ctx, source) if source is not None else []
    if not keyboard:
        return lm.too_large_to_take(ctx.t), None
    return lm.too_large_to_work_on(ctx.t), keyboard
