"""`python -m bot` as an operator runs it: bad configuration is one line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("TELEGRAM_", "NEMO_")) and k not in {"DATABASE_URL"}}
    return subprocess.run(
        [sys.executable, "-m", "bot"], env={**clean, **env}, capture_output=True, text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "TELEGRAM_BOT_TOKEN"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "NEMO_API_URL": "ftp://example.com"}, "NEMO_API_URL"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_API_URL": "localhost"}, "TELEGRAM_API_URL"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "STILL_WORKING_SECONDS": "soon"}, "STILL_WORKING_SECONDS"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "ALLOWED_CHAT_IDS": "12,abc"}, "ALLOWED_CHAT_IDS"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "DATABASE_URL": "postgresql://"}, "DATABASE_URL"),
        # Replicas would each generate their own secret and refuse each other's deliveries.
        ({"TELEGRAM_BOT_TOKEN": "1:x", "DATABASE_URL": "postgresql://u@127.0.0.1:9/db",
          "WEBHOOK_URL": "https://bot.example.org/hook"}, "WEBHOOK_SECRET"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "LOCAL_COMPRESSION": "sometimes"}, "LOCAL_COMPRESSION"),
        ({"TELEGRAM_BOT_TOKEN": "1:x", "LOCAL_ENCODE_CONCURRENCY": "0"},
         "LOCAL_ENCODE_CONCURRENCY"),
        # always without an ffmpeg could compress nothing.
        ({"TELEGRAM_BOT_TOKEN": "1:x", "LOCAL_COMPRESSION": "always",
          "FFMPEG_BINARY": "/nonexistent/ffmpeg"}, "LOCAL_COMPRESSION=always"),
    ],
)
def test_bad_config_is_one_line_and_exit_2(env: dict[str, str], variable: str) -> None:
    result = run(env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_secret_token_never_printed_on_bad_config() -> None:
    result = run({"TELEGRAM_BOT_TOKEN": "123:SECRET-VALUE", "RENDER_POLL_SECONDS": "-1"})
    assert result.returncode == 2
    assert "SECRET-VALUE" not in result.stderr + result.stdout
