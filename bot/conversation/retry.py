"""🔁 Try again under a failure: the same step with the same request, one tap away.

A failed job's request is queued again as a new job (its payload, not its progress: an
upload that failed is uploaded afresh). A failed render offers the export again rather than
the turn, whose edit was applied already.
"""

from __future__ import annotations

from bot.backend import errors as be
from bot.conversation import callbacks
from bot.conversation import local_messages as lm
from bot.conversation.chat import Button, Keyboard
from bot.conversation.context import Ctx

KINDS = frozenset({"turn", "export", "media", "link", "compress"})
NOT_RETRIED: tuple[type[be.BackendError], ...] = (
    be.NoCredits, be.PlanRequired, be.UnsupportedFile, be.FileTooLarge, be.StreamBroken,
    be.UnsafeUrl,
)
"""Failures a second try cannot fix (credits, the plan, the file itself), and a broken
stream, whose request may have been applied (a second try could apply it twice)."""


def buttons(ctx: Ctx, exc: Exception | None = None) -> Keyboard | None:
    """The 🔁 button for the running job's failure, when another try can help."""
    job = ctx.job
    if job is None or job.kind not in KINDS or isinstance(exc, NOT_RETRIED):
        return None
    uid = job.payload.get("user_id")
    return [[Button(lm.retry_button(ctx.t),
                    data=callbacks.retry(job.id, uid if isinstance(uid, int) else None))]]


def export_buttons(ctx: Ctx) -> Keyboard:
    """A render that failed or took too long: render again (the project is unchanged)."""
    return [[Button(lm.retry_button(ctx.t), data=callbacks.EXPORT)]]
