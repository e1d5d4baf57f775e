"""find_ffmpeg: the configured binary, else PATH, else the imageio-ffmpeg wheel; what it can do."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bot.compress import Ffmpeg, find_ffmpeg


def test_found_with_x264(ffmpeg: Ffmpeg) -> None:
    assert ffmpeg.has_x264
    assert ffmpeg.version
    assert "scale" in ffmpeg.filters
    assert "libx264" in ffmpeg.encoders and "aac" in ffmpeg.encoders


def test_configured_path_is_used(ffmpeg: Ffmpeg) -> None:
    found = find_ffmpeg(ffmpeg.path)
    assert found is not None and found.path == ffmpeg.path


def test_configured_path_that_does_not_run_is_none(tmp_path: Path) -> None:
    assert find_ffmpeg(str(tmp_path / "missing")) is None
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert find_ffmpeg(str(fake)) is None  # runs, but is not ffmpeg


def test_wheel_when_not_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("imageio_ffmpeg")
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg here
    found = find_ffmpeg()
    assert found is not None and found.has_x264
    assert "imageio_ffmpeg" in found.path


def test_nothing_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_wheel(name: str, *args: object, **kwargs: object) -> object:
        if name == "imageio_ffmpeg":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(builtins, "__import__", no_wheel)
    assert find_ffmpeg() is None
    assert os.environ["PATH"] == str(tmp_path)
