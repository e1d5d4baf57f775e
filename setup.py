"""Build hook: the top-level ``locales/`` ships inside the package as ``bot/locales/``.

The catalogs stay where translators expect them (beside ``pyproject.toml``), with no second
copy in the tree; a wheel or a non-editable ``pip install .`` still carries the compiled
``.mo`` files. A source checkout (tests, editable installs) reads ``locales/`` directly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CATALOG_SUFFIXES = {".mo", ".po", ".pot"}


class BuildWithLocales(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "bot" / "locales"
        for source in Path("locales").rglob("*"):
            if source.suffix in CATALOG_SUFFIXES:
                dest = target / source.relative_to("locales")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, dest)


setup(cmdclass={"build_py": BuildWithLocales})
