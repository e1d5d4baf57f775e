"""The documents stay true: the README's configuration table names every setting, and every
path and symbol docs/architecture.md points a developer to exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bot.config import Settings

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _configuration_table() -> set[str]:
    text = README.read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", section, flags=re.MULTILINE))


def test_the_readme_configuration_table_names_every_setting() -> None:
    expected = {name.upper() for name in Settings.model_fields}
    listed = _configuration_table()
    assert expected - listed == set(), "add these settings to the README's Configuration table"
    assert listed - expected == set(), "the README's Configuration table names unknown settings"


def _module_path(name: str) -> Path | None:
    """``queue.py`` or ``conversation/queue.py`` or ``bot/streams.py`` -> the file under bot/
    (or the repository), ``None`` when no such file exists."""
    for base in (ROOT, ROOT / "bot"):
        if (base / name).exists():
            return base / name
    matches = sorted(p for p in (ROOT / "bot").rglob(Path(name).name)
                     if p.as_posix().endswith("/" + name))
    return matches[0] if matches else None


def _defined_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_every_path_the_architecture_names_exists() -> None:
    text = ARCHITECTURE.read_text()
    paths = set(re.findall(r"[a-z0-9_/]+\.py", text))
    missing = sorted(p for p in paths if _module_path(p) is None)
    assert missing == [], f"docs/architecture.md names files that do not exist: {missing}"


def test_every_symbol_the_architecture_names_exists() -> None:
    """``module.symbol`` references (``flows.HANDLERS``, ``ordering.PerChatOrder``) name
    something that module defines."""
    text = ARCHITECTURE.read_text()
    missing = []
    for module, symbol in set(re.findall(r"`([a-z_]+)\.([A-Za-z_][A-Za-z0-9_]*)`", text)):
        if symbol == "py":
            continue
        paths = sorted((ROOT / "bot").rglob(f"{module}.py"))
        if not paths:
            missing.append(f"{module}.py")
        elif not any(symbol in _defined_names(path) for path in paths):
            missing.append(f"{module}.{symbol}")
    assert missing == [], f"docs/architecture.md names symbols that do not exist: {missing}"
