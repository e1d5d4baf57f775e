"""The bot's words about compressing on this machine and the journey around it (the live
status, the line, sizes against what was asked). Each goes through gettext, as in
``messages.py`` (split off to keep that module readable)."""

from __future__ import annotations

from bot.backend import errors as be
from bot.backend.models import MAX_UPLOAD_MB
from bot.conversation.messages import REGISTER_URL, _
from bot.conversation.settings_messages import compressing_to_default
from bot.i18n import Translator

# -- the live status ---------------------------------------------------------------------------

starting = _("⏳ Working on it…")


def waiting(t: Translator, place: int) -> str:
    return t._("⏳ Waiting for my compressor — #{place} in line").format(place=place)


def fetching(t: Translator, done: int, total: int | None) -> str:
    if total:
        return t._("⬇️ Getting your video… {percent}").format(percent=t.percent(done / total))
    return t._("⬇️ Getting your video… {size}").format(size=t.size(done))


def compressing(t: Translator, fraction: float | None, eta: float | None, again: str) -> str:
    """"🗜 Compressing… 42%, about 20 sec left"; ``again`` ("2/3") when a pass went over the
    size asked for and it is done once more, smaller."""
    head = (t._("🗜 Compressing again, smaller ({passes})…").format(passes=again) if again
            else t._("🗜 Compressing…"))
    if fraction is None:
        return head
    text = f"{head} {t.percent(min(max(fraction, 0.0), 1.0))}"
    if eta is not None and fraction >= 0.05:
        text += t._(", about {time} left").format(time=t.duration(max(eta, 1.0)))
    return text


def working(t: Translator, elapsed: float) -> str:
    """While the video service's agent works: "⏳ Working on it… 12 sec"."""
    return t._("⏳ Working on it… {elapsed}").format(elapsed=t.duration(elapsed))


sending = _("📤 Sending the video…")

cancel_button = _("❌ Cancel")

retry_button = _("🔁 Try again")

stopped = _("⏹ Stopped: nothing of it will be sent.")

# -- why the backend was not used -----------------------------------------------------------------


def fallback_reason(t: Translator, reason: be.BackendError | str, *, anon_user_id: str | None,
                    operator: bool) -> str:
    """One line: why the video service could not, and that this machine compresses instead."""
    if isinstance(reason, be.NoCredits):
        if operator or not anon_user_id:
            why = t._("The video service has no credits left on this bot's account")
        else:
            why = t._("You've used all the video service's free credits (register for more: "
                      "{url})").format(url=REGISTER_URL.format(user_id=anon_user_id))
    elif isinstance(reason, be.PlanRequired):
        why = t._("Export isn't available on the video service's free plan")
    elif isinstance(reason, be.FileTooLarge):
        why = t._("The video is too large for the video service ({limit} MB at most)").format(
            limit=MAX_UPLOAD_MB)
    elif reason == "failed":
        why = t._("The video service's render failed")
    elif reason == "timeout":
        why = t._("The video service is taking too long")
    else:
        why = t._("The video service is unavailable right now")
    return t._("{why}, so I'm compressing it on this machine instead.").format(why=why)


# -- outcomes ------------------------------------------------------------------------------------

not_a_video = _(
    "That file isn't a video I can compress. Please send a video (MP4, MOV, MKV or WebM)."
)

encode_failed = _(
    "❌ Compressing the video failed. Please try again, or pick another preset."
)


def already_small(t: Translator, size: int, suggest: bool) -> str:
    text = t._(
        "👍 Your video ({size}) is already well compressed: compressing it again would not make "
        "it smaller, so I'm not sending a copy."
    ).format(size=t.size(size))
    if suggest:
        text += " " + t._("A lower resolution or a size target can still help:")
    return text


def unreachable(t: Translator, target: int, smallest: int | None) -> str:
    if smallest is None:
        return t._(
            "I can't get this video under {target} at a watchable quality. Try a shorter clip "
            "or a lower resolution."
        ).format(target=t.size(target))
    return t._(
        "I can't get this video under {target} at a watchable quality; the smallest I can make "
        "is {size}:"
    ).format(target=t.size(target), size=t.size(smallest))


def over_telegram(t: Translator, size: int, limit: int) -> str:
    return t._(
        "The compressed video is {size}, more than Telegram lets bots send ({limit}). Ask for "
        "a size, for example “under {hint}”."
    ).format(size=t.size(size), limit=t.size(limit), hint=t.size(limit * 0.9))


send_uncertain = _(
    "⚠️ Telegram didn't confirm that the compressed video arrived, so it may be missing above. "
    "If it is, ask me again."
)

maybe_missing = _(
    "♻️ I was restarted just as I sent your compressed video, so it may be missing above. If "
    "it is, ask me again."
)

# -- the line --------------------------------------------------------------------------------------

MAX_LISTED = 5


def line(t: Translator, labels: list[str]) -> str:
    """What waits behind the running request, each with its place: "#1 “step 1”"."""
    if len(labels) == 1:
        return t._("⏳ Queued — #1: I'll get to {what} as soon as I finish the current "
                   "request.").format(what=labels[0])
    listed = [f"#{place} {label}" for place, label in enumerate(labels[:MAX_LISTED], 1)]
    if len(labels) > MAX_LISTED:
        listed.append(t._("…and {n} more").format(n=len(labels) - MAX_LISTED))
    head = t._("⏳ Queued — I'll get to these as soon as I finish the current request:")
    return "\n".join([head, *listed])


your_video = _("your video")

your_request = _("your request")


# -- an export measured against what was asked -------------------------------------------------


def fit_button(t: Translator, target: int) -> str:
    return t._("🗜 Fit it to {size} here").format(size=t.size(target))


def export_over_target(t: Translator, size: int, target: int) -> str:
    return t._(
        "⚠️ The video service's export is {size}: over the {target} you asked for, so it may "
        "not fit where you want to send it."
    ).format(size=t.size(size), target=t.size(target))


def export_not_smaller(t: Translator, before: int) -> str:
    return t._("⚠️ It is not smaller than your original ({before}).").format(
        before=t.size(before))


# -- too large for the video service (4002) -----------------------------------------------------


def too_large_to_work_on(t: Translator) -> str:
    """The video is in the project but too large to work on as it is: smaller ways, as buttons."""
    return t._(
        "That video is too large for the video service to work on as it is ({limit} MB at "
        "most). Tap a lower resolution or a size to fit, and I'll ask for that instead:"
    ).format(limit=MAX_UPLOAD_MB)


def too_large_to_take(t: Translator) -> str:
    """The upload itself was refused for its size: nothing of it is in the project."""
    return t._(
        "That file is too large for the video service ({limit} MB at most), so it couldn't be "
        "added. Send a shorter clip, or send it as a video rather than a file: most Telegram "
        "apps then send a smaller copy."
    ).format(limit=MAX_UPLOAD_MB)


# -- LOCAL_COMPRESSION=always: no video service at all -----------------------------------------

def welcome(t: Translator, limit: int) -> str:
    """/start when every video is compressed here (``limit``: the biggest file, in bytes)."""
    return t._(
        "Hi! I compress videos right here, on this bot's own machine, with ffmpeg: no "
        "account and no credits.\n\n"
        "1. Send me a video (up to {limit} MB; MP4, MOV, MKV or WebM).\n"
        "2. Tell me how to compress it, for example “under 10 MB”, “720p”, “50%”, “H.265” or "
        "“no audio”, or tap a preset.\n\n"
        "A status shows each step, with ❌ to stop it, and the smaller video comes back here. "
        "/help lists everything I can do."
    ).format(limit=limit // 1_000_000)


def help_text(t: Translator, limit: int) -> str:
    """/help when every video is compressed here: only what works without a video service."""
    return t._(
        "Send a video, then tell me how to compress it (“under 16 MB”, “720p”, “50%”, "
        "“H.265”, “no audio”) or tap a preset.\n\n"
        "/export – compress the current video with the default settings\n"
        "/status – show the current video\n"
        "/new – forget the current video\n"
        "/cancel – stop what I'm doing\n"
        "/history – your latest videos, to get one again\n"
        "/language – choose the language\n\n"
        "I compress on this machine with ffmpeg. "
        "Supported formats: MP4, MOV, MKV, WebM. Up to {limit} MB."
    ).format(limit=limit // 1_000_000)


no_credits_needed = _(
    "This bot compresses videos on its own machine: there are no credits to count."
)

send_a_video = _("Send me a video first, then tell me how to compress it.")

only_videos = _("I can only compress videos. Please send a video.")

no_links = _("I can't fetch links: please send the video itself.")

how_to_ask = _(
    "Tell me how to compress it, for example “under 10 MB”, “720p”, “50%”, “H.265” or “no "
    "audio”, or pick a preset:"
)


def received(t: Translator, name: str, details: list[str], asked: bool,
             default: str | None = None) -> str:
    """``default``: no words, the chat's default preset (/settings) is what happens."""
    suffix = f" ({', '.join(details)})" if details else ""
    head = t._("📥 Received: {name}{details}").format(name=name, details=suffix)
    tail = t._("Compressing it as you asked…") if asked else how_to_ask(t)
    if default is not None:
        tail = compressing_to_default(t, default)
    return f"{head}\n\n{tail}"


def status(t: Translator, name: str | None, details: list[str]) -> str:
    if name is None:
        return send_a_video(t)
    suffix = f" ({', '.join(details)})" if details else ""
    return t._("Your video: {name}{details}. Tell me how to compress it, or pick a preset.").format(
        name=name, details=suffix)


forgotten = _("🆕 Done: I've forgotten the previous video. Send me a new one.")
