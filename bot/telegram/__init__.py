"""python-telegram-bot wiring only: handlers parse updates and call flows."""

import os

# Opt in to PTB's future behaviour (durations as timedelta) instead of deprecation warnings.
os.environ.setdefault("PTB_TIMEDELTA", "1")
