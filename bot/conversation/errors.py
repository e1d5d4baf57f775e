"""Telling the person about a backend failure, in their language, with what to do next."""

from __future__ import annotations

import logging

from bot import metrics
from bot.backend.errors import BackendError, NoCredits
from bot.conversation import messages
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
    await ctx.chat.send(
        messages.error_message(
            ctx.t, exc, anon_user_id=anon_user_id, operator=accounts.is_operator
        )
    )
