"""Fakes of Telegram and of the video backend: real HTTP servers on 127.0.0.1."""
