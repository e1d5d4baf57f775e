"""The bot's own words. Each goes through gettext; backend text never does."""

from __future__ import annotations

from collections.abc import Callable

from babel.numbers import format_percent

from bot.backend import errors as be
from bot.backend.models import MAX_UPLOAD_MB
from bot.i18n import Translator
from bot.store import VideoInfo

SUPPORTED_FORMATS = (
    "mp4", "mov", "avi", "webm", "mkv", "jpg", "png", "gif", "webp", "mp3", "wav", "m4a", "aac",
)
REGISTER_URL = "https://nemovideo.com/register?bind={user_id}"
MIN_PROGRESS_FOR_ESTIMATE = 0.05
"""Below this share done, a time-left estimate is mostly noise: show the percentage only."""

Text = Callable[[Translator], str]
"""A message without placeholders: ``messages.what_next(t)`` reads like the functions below."""


def _(message: str) -> Text:
    """Mark ``message`` for extraction (pybabel's ``_`` keyword, as for ``t._``); it is
    translated into the chat's language when called with the chat's translator."""
    return lambda t: t._(message)


def welcome(t: Translator, limit: int) -> str:
    """``limit``: the biggest file this deployment takes, in bytes."""
    return t._(
        "Hi! I compress and edit videos with AI.\n\n"
        "1. Send me a video (up to {limit} MB; MP4, MOV, AVI or WebM work best).\n"
        "2. Tell me what you want in your own words, for example:\n"
        "• “compress this video to a smaller file size without losing quality”\n"
        "• “compress a 2-minute 1080p MP4 recording into a 1080p MP4”\n"
        "• “reduce the file size for sharing or uploading”\n\n"
        "I'll send the finished video back here, usually within 30–90 seconds. "
        "/help lists everything I can do."
    ).format(limit=limit // 1_000_000)


def help_text(t: Translator, limit: int) -> str:
    return t._(
        "Send a video, a photo, an audio file or a link to one, then say what you want done.\n\n"
        "/export – render the current project and send you the video\n"
        "/status – show what is in the project\n"
        "/credits – show the remaining credits\n"
        "/new – start a fresh project\n"
        "/cancel – stop what I'm doing\n"
        "/history – your latest videos, to get one again\n"
        "/language – choose the language\n"
        "/settings – a default for every new video, the language, and how I compress\n\n"
        "Supported formats: {formats}. Up to {limit} MB."
    ).format(formats=", ".join(SUPPORTED_FORMATS), limit=limit // 1_000_000)


setting_up = _("⚙️ Setting up…")

group_hint = _("In groups, mention me or reply to one of my messages so I know it's for me.")

something_went_wrong = _("Sorry, something went wrong on my side. Please try again in a moment.")


def still_working(t: Translator, elapsed: float | None = None) -> str:
    if elapsed is None:
        return t._("⏳ Still working…")
    return t._("⏳ Still working… ({elapsed})").format(elapsed=t.duration(elapsed))


no_answer = _(
    "The video service finished without a reply, and the project hasn't changed. "
    "Try saying it another way, or send /status to see the project."
)


def done_with_summary(t: Translator, summary: str) -> str:
    return t._("✅ Done. Your timeline now:\n{summary}").format(summary=summary)


def applied_anyway(t: Translator, summary: str) -> str:
    return t._("The change seems to have been applied anyway. Your timeline now:\n{summary}")\
        .format(summary=summary)


export_button = _("🎬 Export")

session_lost = _(
    "Your previous project expired on the server, so I started a new one. "
    "Files you sent earlier are no longer in it: please send them again if you need them."
)


def error_message(t: Translator, exc: Exception, *, anon_user_id: str | None,
                  operator: bool) -> str:
    """Plain words for each backend failure; never a code, a token or raw JSON."""
    if isinstance(exc, be.NoCredits):
        if operator or not anon_user_id:
            return t._(
                "The video service has no credits left on this bot's account. "
                "The bot's operator needs to top up credits in their account."
            )
        return t._(
            "You've used all the free credits. Register to get more, and your work so far "
            "stays with you: {url}"
        ).format(url=REGISTER_URL.format(user_id=anon_user_id))
    if isinstance(exc, be.UnsupportedFile):
        return t._("That file type isn't supported. Please send one of: {formats}.").format(
            formats=", ".join(SUPPORTED_FORMATS)
        )
    if isinstance(exc, be.FileTooLarge):
        return t._(
            "That file is too large for the video service ({limit} MB at most). "
            "Please compress or trim it and send it again."
        ).format(limit=MAX_UPLOAD_MB)
    if isinstance(exc, be.PlanRequired):
        return t._(
            "Export isn't available on the free plan. "
            "Register or upgrade your plan to unlock export."
        )
    if isinstance(exc, be.RateLimited):
        return t._("The video service is busy right now. Please try again in a few minutes.")
    if isinstance(exc, be.StreamBroken):
        return t._(
            "I lost the connection to the video service before it finished. "
            "Your request may still have been applied: /status shows the project."
        )
    if isinstance(exc, be.AgentError):
        return t._("The video service couldn't complete that request. Please try again.")
    if isinstance(exc, be.Unavailable):
        return t._("The video service is unavailable right now. Please try again later.")
    return t._("The video service couldn't handle that request. Please try again later.")


def interrupted(t: Translator, instruction: str) -> str:
    return t._(
        "I was restarted while working on “{instruction}”. It may or may not have been "
        "applied: /status shows the project, or send the request again."
    ).format(instruction=instruction if len(instruction) <= 200 else instruction[:199] + "…")


not_allowed = _("Sorry, this bot is private and not available in this chat.")

nothing_to_export = _(
    "There's nothing to export yet. Send me a video first, then tell me what to do with it."
)


def rendering(
    t: Translator, elapsed: float | None, progress: float | None = None
) -> str:
    """Elapsed time; or, when the backend reports progress, the share done and time left."""
    if progress is not None:
        percent = format_percent(progress, locale=t.locale)
        if elapsed and progress >= MIN_PROGRESS_FOR_ESTIMATE and progress < 1:
            left = elapsed * (1 - progress) / progress
            return t._("🎬 Rendering… {percent}, about {left} left").format(
                percent=percent, left=t.duration(max(left, 1))
            )
        return t._("🎬 Rendering… {percent}").format(percent=percent)
    if elapsed is None:
        return t._("🎬 Rendering your video…")
    return t._("🎬 Rendering… {elapsed}").format(elapsed=t.duration(elapsed))


shorter_clips_tip = _(
    "💡 Tip: shorter clips compress faster and more predictably. If this long video keeps "
    "failing, try trimming it or sending it in parts."
)

render_failed = _(
    "The render failed on the server. Send /export to try again, or change the project "
    "first (/status shows what is in it)."
)

render_too_slow = _(
    "The render is taking far longer than usual, so I stopped waiting. "
    "Send /export to try again."
)


def video_ready(
    t: Translator, size: int | None, before: VideoInfo | None = None,
    after: VideoInfo | None = None,
) -> str:
    """"✅ 48.2 MB → 12.1 MB (−75%), 1080p, 2 min 14 sec" when the original is known."""
    if size and before is not None and before.size:
        details = [
            t._("{before} → {after} ({change})").format(
                before=t.size(before.size), after=t.size(size),
                change=t.percent((size - before.size) / before.size, signed=True),
            )
        ]
        if after is not None and after.width and after.height:
            details.append(resolution(after.width, after.height))
        if after is not None and after.duration:
            details.append(t.duration(after.duration))
        return t._("✅ Here is your video: {details}").format(details=t._(", ").join(details))
    if size:
        return t._("✅ Here is your video ({size}).").format(size=t.size(size))
    return t._("✅ Here is your video.")


def resolution(width: int, height: int) -> str:
    """1080p: the short side, as people name video sizes."""
    return f"{min(width, height)}p"


def video_link(t: Translator, size: int | None, url: str) -> str:
    if size:
        return t._(
            "✅ Your video is ready ({size}), but it's larger than Telegram lets bots send. "
            "Download it here: {url}"
        ).format(size=t.size(size), url=url)
    return t._("✅ Your video is ready. Download it here: {url}").format(url=url)


def maybe_missing(t: Translator) -> str:
    return t._(
        "♻️ I was restarted just as I answered this, so my answer may be missing above. "
        "/status shows where your project stands."
    )


def video_maybe_missing(t: Translator) -> str:
    return t._(
        "♻️ I was restarted just as I sent your video, so it may be missing above. If it is, "
        "the button below downloads it."
    )


def video_link_uncertain(t: Translator, url: str) -> str:
    return t._(
        "✅ Your video is ready, but Telegram didn't confirm the upload in time. If it doesn't "
        "appear above, download it here: {url}"
    ).format(url=url)


def unsupported_format(t: Translator, name: str) -> str:
    return t._("I can't use “{name}”: that format isn't supported. Please send one of: {formats}.")\
        .format(name=name, formats=", ".join(SUPPORTED_FORMATS))


def too_large_for_backend(t: Translator, name: str, size: int) -> str:
    return t._(
        "“{name}” is {size}, over the {limit} MB limit. Please compress or trim it and send "
        "it again."
    ).format(name=name, size=t.size(size), limit=MAX_UPLOAD_MB)


def too_large_for_telegram(t: Translator, name: str, size: int | None, limit: int,
                           links: bool = True) -> str:
    """Over what Telegram lets the bot fetch (``limit`` bytes): a link works instead when
    the backend can fetch one (``links``)."""
    what = (t._("“{name}” is {size}").format(name=name, size=t.size(size)) if size
            else t._("“{name}” is too large").format(name=name))
    why = t._("{what}: Telegram only lets bots download files up to {limit} MB.").format(
        what=what, limit=limit // 1_000_000)
    then = (t._("Send a link to the video instead (any http or https address), or a shorter "
                "clip.") if links else t._("Please send a shorter clip."))
    return f"{why} {then}"


what_next = _(
    "Now tell me what to do, for example: “compress this video to a smaller file size "
    "without losing quality”."
)

working_on_caption = _("Working on your instructions…")

unsupported_message = _(
    "I can only work with videos, photos, audio files and links to them. "
    "Send one, then tell me what to do with it."
)


def send_the_file(t: Translator) -> str:
    return t._(
        "Just send the video here (as a video or as a file), or paste a link to it. "
        "Supported formats: {formats}."
    ).format(formats=", ".join(SUPPORTED_FORMATS))


def slow_down(t: Translator, reason: str, limit: int, seconds: int) -> str:
    """Over a chat's limits: nothing queued is lost, the person is told when to retry."""
    if reason == "pending":
        return t.n_(
            "⏳ {n} request is already waiting here. Please send more once it is done "
            "(try again in about a minute).",
            "⏳ {n} requests are already waiting here. Please send more once some are done "
            "(try again in about a minute).",
            limit,
        ).format(n=limit)
    return t.n_(
        "⏳ That is a lot at once: please try again in {n} second. "
        "Everything you sent before is still queued.",
        "⏳ That is a lot at once: please try again in {n} seconds. "
        "Everything you sent before is still queued.",
        seconds,
    ).format(n=seconds)


def credits(t: Translator, available: float, frozen: float) -> str:
    text = t._("💳 Credits available: {available}").format(available=t.number(available, 0))
    if frozen:
        text += "\n" + t._("Reserved for running work: {frozen}").format(
            frozen=t.number(frozen, 0)
        )
    return text


def timeline(t: Translator, summary: str) -> str:
    return t._("Your project:\n{summary}").format(summary=summary)


def uploads_only(t: Translator, count: int) -> str:
    return t.n_(
        "Your project has {n} uploaded file and no edits yet. Tell me what to do with it.",
        "Your project has {n} uploaded files and no edits yet. Tell me what to do with them.",
        count,
    ).format(n=count)


empty_project = _("Your project is empty. Send me a video to start.")

confirm_new = _(
    "Start a fresh project? The current one, with its uploads and edits, will be left "
    "behind."
)

new_started = _("🆕 Started a fresh project. Send me a video.")

new_kept = _("OK, keeping the current project.")

choose_language = _("Choose the language I should use in this chat:")


def language_set(t: Translator, name: str) -> str:
    return t._("Language set to {language}.").format(language=name)


def cancelled(t: Translator, count: int) -> str:
    if count == 0:
        return t._("Nothing is running right now.")
    return t.n_(
        "⏹ Stopped. {n} request was cancelled.", "⏹ Stopped. {n} requests were cancelled.", count
    ).format(n=count)


admins_only = _("Only group admins can do that.")


# -- one-tap presets ---------------------------------------------------------------------------


def preset_label(t: Translator, key: str) -> str:
    labels = {
        "small": t._("Smaller file, same quality"),
        "16": t._("Fit 16 MB (WhatsApp)"),
        "10": t._("Fit 10 MB (Discord)"),
        "25": t._("Fit 25 MB"),
        "50": t._("Fit 50 MB"),
        "720": t._("Make it 720p"),
    }
    return labels[key]


def preset_instruction(t: Translator, key: str, before: VideoInfo | None) -> str:
    """What a preset asks the agent, with the original's size and duration for the bitrate."""
    details = []
    if before is not None and before.size:
        details.append(t.size(before.size))
    if before is not None and before.duration:
        details.append(t.duration(before.duration))
    if before is not None and before.width and before.height:
        details.append(resolution(before.width, before.height))
    subject = (
        t._("this video ({details})").format(details=t._(", ").join(details))
        if details else t._("this video")
    )
    if key == "small":
        return t._(
            "Compress {subject} to a smaller file size without losing visible quality; "
            "keep the resolution and frame rate."
        ).format(subject=subject)
    if key == "720":
        return t._(
            "Convert {subject} to 720p, keeping the aspect ratio, at a bitrate that still "
            "looks good."
        ).format(subject=subject)
    platform = {"16": "WhatsApp", "10": "Discord", "25": "Discord Nitro Basic",
                "50": "Telegram"}[key]
    return t._(
        "Compress {subject} so the exported file is under {target} MB for {platform}: work out "
        "the bitrate from the duration, and keep the resolution as high as fits."
    ).format(subject=subject, target=key, platform=platform)


preset_not_yours = _(
    "Only the person who sent the video (or a group admin) can use these buttons."
)

button_not_yours = _("Only the person who asked (or a group admin) can use this button.")

preset_no_video = _("That video is no longer in the project. Send it again to use the buttons.")


# -- /history ----------------------------------------------------------------------------------


def history(t: Translator, lines: list[str]) -> str:
    if not lines:
        return t._("No videos delivered in this chat yet. Send me one to start.")
    return t._("Your latest videos (tap one to get it again):") + "\n" + "\n".join(lines)


def history_line(t: Translator, index: int, size: str, when: str) -> str:
    # TRANSLATORS: one /history line, e.g. "1. 12.1 MB, 26 Nov 2026, 19:50 UTC"
    return t._("{index}. {size}, {when}").format(index=index, size=size, when=when)


history_gone = _("That video is no longer available. Send /export to render it again.")


def uploading(t: Translator, name: str, count: int, done: int, total: int | None) -> str:
    """A long upload's status: "📤 Uploading clip.mp4… 48 % of 312 MB"."""
    what = name if count == 1 else t.n_("{n} file", "{n} files", count).format(n=count)
    if total:
        return t._("📤 Uploading {what}… {percent} of {size}").format(
            what=what, percent=_percent(t, done, total), size=t.size(total)
        )
    return t._("📤 Uploading {what}… {size}").format(what=what, size=t.size(done))


def _percent(t: Translator, done: int, total: int) -> str:
    """48 %, as the person's locale writes it; whole percents, floored (100 only when done)."""
    whole = min(done, total) * 100 // total
    return format_percent(whole / 100, locale=t.locale)


def sending_video(t: Translator, done: int, total: int | None) -> str:
    """A long export download's status, before the video arrives."""
    if total:
        return t._("📥 Fetching your video… {percent} of {size}").format(
            percent=_percent(t, done, total), size=t.size(total)
        )
    return t._("📥 Fetching your video… {size}").format(size=t.size(done))


quality_hint = _(
    "💡 Telegram re-encodes videos sent the usual way, which lowers their quality. To "
    "keep the original, send the video as a file (📎 → File) next time."
)


def file_unreadable(t: Translator, name: str) -> str:
    return t._("I couldn't fetch “{name}” from Telegram. Please send it again.").format(
        name=name
    )
