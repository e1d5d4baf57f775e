"""Finding an ffmpeg binary and what it can do.

Looked up once at start (blocking subprocess calls are fine there): the configured path, else
``ffmpeg`` on PATH, else the binary shipped by the ``imageio-ffmpeg`` wheel (the ``[local]``
extra). That wheel has no ffprobe, so nothing here or in probe.py needs one.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from dataclasses import dataclass

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 20.0


@dataclass(frozen=True)
class Ffmpeg:
    """A found binary and what it can do."""

    path: str
    version: str
    encoders: frozenset[str]
    filters: frozenset[str]

    @property
    def has_x264(self) -> bool:
        return "libx264" in self.encoders

    @property
    def has_x265(self) -> bool:
        return "libx265" in self.encoders

    @property
    def can_tonemap(self) -> bool:
        """zscale + tonemap: HDR can be turned into SDR that looks right, not washed out."""
        return {"zscale", "tonemap"} <= self.filters

    @property
    def major(self) -> int | None:
        """The major version when the version string has one (git builds may not)."""
        match = re.match(r"n?(\d+)\.", self.version)
        return int(match.group(1)) if match else None


def _run(path: str, *args: str) -> str | None:
    try:
        done = subprocess.run(
            [path, "-hide_banner", *args], stdin=subprocess.DEVNULL, capture_output=True,
            timeout=PROBE_TIMEOUT, check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("ffmpeg at %s does not run: %s", path, exc)
        return None
    if done.returncode != 0:
        log.info("ffmpeg at %s %s exited %s", path, args, done.returncode)
        return None
    return done.stdout.decode("utf-8", "replace")


def _names(listing: str) -> frozenset[str]:
    """The second column of ``-encoders`` / ``-filters`` lines after the legend."""
    names = set()
    for line in listing.splitlines():
        parts = line.split()
        # flags column ("V....D", "TS", "..."), then the name; legend lines have "=" in them
        if len(parts) >= 2 and "=" not in parts[:2] and not parts[0].endswith(":"):
            names.add(parts[1])
    return frozenset(names)


def inspect(path: str) -> Ffmpeg | None:
    """What the binary at ``path`` is, or None when it does not run as ffmpeg."""
    version_text = _run(path, "-version")
    if version_text is None:
        return None
    match = re.search(r"ffmpeg version (\S+)", version_text)
    if match is None:
        log.info("%s does not say it is ffmpeg", path)
        return None
    encoders = _run(path, "-encoders") or ""
    filters = _run(path, "-filters") or ""
    return Ffmpeg(path=path, version=match.group(1), encoders=_names(encoders),
                  filters=_names(filters))


def _bundled() -> str | None:
    try:
        import imageio_ffmpeg  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception as exc:  # it raises RuntimeError when the wheel has no binary for us
        log.info("imageio-ffmpeg has no usable binary: %s", exc)
        return None


def find_ffmpeg(configured: str | None = None) -> Ffmpeg | None:
    """The configured path, else ``ffmpeg`` on PATH, else imageio-ffmpeg's binary, else None.

    A configured path that does not run gives None (the operator asked for that one binary).
    """
    if configured:
        return inspect(configured)
    on_path = shutil.which("ffmpeg")
    if on_path is not None:
        found = inspect(on_path)
        if found is not None:
            return found
    bundled = _bundled()
    return inspect(bundled) if bundled is not None else None
