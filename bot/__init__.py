"""rtk-compressor-bot: a Telegram relay to the NemoVideo video agent."""

# The one place the version is written (pyproject.toml reads it): asking importlib.metadata
# instead scans every installed distribution, ~0.1 s of each start.
__version__ = "0.1.0"
