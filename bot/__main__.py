"""``python -m bot`` runs the bot; ``python -m bot demo`` plays a conversation against fakes."""

from __future__ import annotations

import sys

from bot.config import ConfigError, load_settings


def run() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    from bot.config import local_ffmpeg

    try:
        ffmpeg = local_ffmpeg(settings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    import asyncio
    import logging

    from telegram.error import InvalidToken, NetworkError

    from bot import logs
    from bot.store.open import StoreUnavailable
    from bot.telegram.app import build_application
    from bot.telegram.serve import run as serve
    from bot.tempfiles import UnsafeTempDir

    secrets = settings.secrets()
    logs.setup(settings.log_level, secrets, settings.log_format)
    if ffmpeg is None and settings.local_compression == "fallback":
        logging.getLogger("bot").warning(
            "no ffmpeg found (FFMPEG_BINARY, PATH, the [local] extra): local compression is off")
    app = build_application(settings, ffmpeg=ffmpeg)
    try:
        asyncio.run(serve(app, settings))
    except InvalidToken:
        print("startup error: TELEGRAM_BOT_TOKEN was rejected by the Bot API "
              "(copy it again from @BotFather)", file=sys.stderr)
        return 2
    except NetworkError as exc:
        reason = logs.redact(str(exc), secrets)
        print(f"startup error: cannot reach the Bot API at {settings.telegram_api_url} "
              f"({reason})", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"startup error: {logs.redact(str(exc), secrets)}", file=sys.stderr)
        return 1
    except UnsafeTempDir as exc:
        print(f"startup error: temporary directory: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        # Only the web server raises ListenError, so its module is loaded by then; importing
        # it up front would load aiohttp before polling starts.
        web = sys.modules.get("bot.telegram.web")
        if web is None or not isinstance(exc, web.ListenError):
            raise
        print(f"startup error: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "demo":
        from bot.sandbox.demo import main as demo

        return demo()
    if args and args[0] == "check":
        from bot.check import main as check

        return check()
    if args and args[0] in {"-h", "--help", "help"}:
        print("usage: python -m bot [demo|check]\n"
              "  (no argument) run the bot (needs TELEGRAM_BOT_TOKEN)\n"
              "  check         test the configuration, token, backend, database and temp dir\n"
              "  demo          play a whole conversation against the built-in fakes")
        return 0
    if args:
        print(f"unknown command: {args[0]} (try: python -m bot --help)", file=sys.stderr)
        return 2
    return run()


if __name__ == "__main__":
    sys.exit(main())
