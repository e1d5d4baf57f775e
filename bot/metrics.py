"""Prometheus counters of what the bot does, in one place any layer may import.

Labels are small fixed sets (update type, outcome, error code, delivery kind, Bot API
method): never a chat id, a user, a token or a URL.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Turns stream for minutes and renders take longer: buckets up to the 15-minute SSE limit.
_LONG = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900, float("inf"))

UPDATES = Counter("bot_updates_received", "Telegram updates received", ["type"])
TURNS = Counter("bot_turns", "Agent turns run", ["outcome"])
TURN_SECONDS = Histogram("bot_turn_duration_seconds", "Agent turn duration", buckets=_LONG)
BACKEND_ERRORS = Counter("bot_backend_errors", "Backend errors reported to a chat", ["code"])
RENDERS = Counter("bot_renders", "Exports rendered", ["outcome"])
RENDER_SECONDS = Histogram("bot_render_duration_seconds", "Render duration (start to end)",
                           buckets=_LONG)
DELIVERIES = Counter("bot_deliveries", "Finished videos delivered", ["kind"])
LOCAL_COMPRESSIONS = Counter("bot_local_compressions", "Videos compressed on this machine",
                             ["outcome"])
LOCAL_ENCODE_SECONDS = Histogram("bot_local_encode_duration_seconds",
                                 "Local compression duration (encode, all passes)", buckets=_LONG)
LOCAL_WAITING = Gauge("bot_local_encodes_waiting", "Local encodes waiting for a free encoder")
QUEUE_DEPTH = Gauge("bot_queue_depth", "Jobs waiting or running in the durable queue")
RUNNING_CHATS = Gauge("bot_running_chats", "Chats whose work is running now")
# Time a Bot API message call spent held back rather than in flight: the rate limiter's queue
# (Telegram's ~30 messages a second, 20 a minute per group), a 429's retry_after, a retry's
# pause. When answers are late and this is high, the delay is Telegram's limit, not the bot.
_WAIT = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, float("inf"))
TELEGRAM_WAIT = Histogram("bot_telegram_limiter_wait_seconds",
                          "Time Bot API calls waited for the rate limiter", ["method"],
                          buckets=_WAIT)
TELEGRAM_WAITING = Gauge("bot_telegram_limiter_waiting",
                         "Bot API message calls held back by the rate limiter now")
TELEGRAM_RETRIES = Counter("bot_telegram_retries", "Bot API calls answered 'retry after'",
                           ["method"])


def error_code(exc: BaseException) -> str:
    """A bounded label for a backend error: its code, else its class name."""
    code = getattr(exc, "code", None)
    return str(code) if code is not None else type(exc).__name__
