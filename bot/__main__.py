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
    from telegram import Update
    from telegram.error import InvalidToken, NetworkError

    from bot import logs
    from bot.store.open import StoreUnavailable, url_password
    from bot.telegram.app import build_application

    secrets = [settings.telegram_bot_token.get_secret_value()]
    if settings.nemo_token:
        secrets.append(settings.nemo_token.get_secret_value())
    db_password = url_password(settings.database_url)
    if db_password:
        secrets.append(db_password)
    logs.setup(settings.log_level, secrets)
    app = build_application(settings)
    try:
        app.run_polling(allowed_updates=Update.ALL_TYPES)
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
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "demo":
        from bot.sandbox.demo import main as demo

        return demo()
    if args and args[0] in {"-h", "--help", "help"}:
        print("usage: python -m bot [demo]\n  (no argument) run the bot (needs TELEGRAM_BOT_TOKEN)"
              "\n  demo          play a whole conversation against the built-in fakes")
        return 0
    if args:
        print(f"unknown command: {args[0]} (try: python -m bot --help)", file=sys.stderr)
        return 2
    return run()


if __name__ == "__main__":
    sys.exit(main())
