"""rtk-compressor-bot: a Telegram relay to the NemoVideo video agent."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rtk-compressor-bot")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
