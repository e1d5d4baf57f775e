"""The gettext catalogs stay honest: current with the code, complete, and compiled.

When one of these fails, refresh the catalogs from the repository root with::

    pybabel extract -F babel.cfg -k _ -k n_:1,2 --add-comments TRANSLATORS: --no-location \\
        --sort-output --project rtk-compressor-bot -o locales/bot.pot .
    pybabel update -i locales/bot.pot -d locales -D bot --no-fuzzy-matching
    # translate the new or changed entries in locales/*/LC_MESSAGES/bot.po, then
    pybabel compile -d locales -D bot
"""

from __future__ import annotations

import fnmatch
import re
import string
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bot.i18n import DOMAIN, LOCALES_DIR, SUPPORTED, translator

ROOT = Path(__file__).parent.parent
TEMPLATE = LOCALES_DIR / f"{DOMAIN}.pot"
MO_GLOB = "locales/*/LC_MESSAGES/*.mo"
EXTRACT_ARGS = [
    "extract", "-F", "babel.cfg", "-k", "_", "-k", "n_:1,2", "--no-location", "--sort-output",
    "--project", "rtk-compressor-bot",
]
FIX_HINT = "run pybabel extract/update/compile as described at the top of this test file"

# Characters that exist in only one of the two scripts: a zh_Hant string holding one of the
# first set (or a zh_Hans string holding one of the second) was written in the wrong script.
SIMPLIFIED_ONLY = set("这们发项积设说请为时间线导视频图链载压缩编辑务选择删单个还没让么处过")
TRADITIONAL_ONLY = set("這們發項積設說請為時間線導視頻圖鏈載壓縮編輯務選擇刪單個還沒讓麼處過檔專匯")
# Mainland wording in Traditional script; Taiwan says 影片, 匯出, 軟體, 連結, 訊息.
MAINLAND_TERMS_IN_HANT = ("視頻", "導出", "軟件", "鏈接", "信息")

Key = str | tuple[str, ...]


def _key(message: Message) -> Key:
    return tuple(message.id) if isinstance(message.id, list | tuple) else message.id


def _forms(message: Message) -> tuple[str, ...]:
    value = message.string
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def _show(key: Key) -> str:
    return repr(key[0] if isinstance(key, tuple) else key)


def _read_po(path: Path, locale: str | None = None) -> Catalog:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing: {FIX_HINT}"
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _messages(catalog: Catalog) -> Iterator[Message]:
    return (message for message in catalog if message.id)


def _po_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@pytest.fixture(scope="module")
def template() -> Catalog:
    return _read_po(TEMPLATE)


@pytest.fixture(scope="module", params=SUPPORTED)
def po(request: pytest.FixtureRequest) -> tuple[str, Catalog]:
    locale: str = request.param
    return locale, _read_po(_po_path(locale), locale=locale)


def _fields(text: str, where: str) -> set[str]:
    """The ``{name}`` fields of a str.format template (nested ones in format specs too)."""
    names: set[str] = set()
    try:
        for _literal, field, spec, _conversion in string.Formatter().parse(text):
            if field is not None:
                names.add(field)
            if spec:
                names |= _fields(spec, where)
    except ValueError as exc:  # unbalanced braces would crash .format() at runtime
        pytest.fail(f"{where}: not a valid str.format template ({exc}): {text!r}")
    return names


def test_template_is_up_to_date_with_the_code(tmp_path: Path, template: Catalog) -> None:
    fresh_path = tmp_path / "fresh.pot"
    result = subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "-q", *EXTRACT_ARGS,
         "-o", str(fresh_path), "."],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, f"extraction failed:\n{result.stdout}{result.stderr}"
    fresh = {_key(message) for message in _messages(_read_po(fresh_path))}
    stored = {_key(message) for message in _messages(template)}
    missing = sorted(map(_show, fresh - stored))
    stale = sorted(map(_show, stored - fresh))
    assert not missing and not stale, (
        f"locales/bot.pot is out of date with the code ({FIX_HINT}).\n"
        f"In the code but not in the template: {missing}\n"
        f"In the template but no longer in the code: {stale}"
    )


def test_catalog_header(po: tuple[str, Catalog]) -> None:
    locale, catalog = po
    assert str(catalog.locale) == locale, f"{locale}/bot.po declares Language: {catalog.locale}"
    expected = 1 if locale.startswith("zh") else 2
    assert catalog.num_plurals == expected, (
        f"{locale}/bot.po has nplurals={catalog.num_plurals}, expected {expected}"
    )
    assert not catalog.fuzzy, f"{locale}/bot.po has a fuzzy header: remove '#, fuzzy' at the top"


def test_catalog_matches_template(po: tuple[str, Catalog], template: Catalog) -> None:
    locale, catalog = po
    wanted = {_key(message) for message in _messages(template)}
    have = {_key(message) for message in _messages(catalog)}
    assert wanted == have, (
        f"{locale}/bot.po is not in step with bot.pot ({FIX_HINT}).\n"
        f"Missing: {sorted(map(_show, wanted - have))}\n"
        f"Extra: {sorted(map(_show, have - wanted))}"
    )


def test_every_message_is_translated(po: tuple[str, Catalog]) -> None:
    locale, catalog = po
    problems = []
    for message in _messages(catalog):
        forms = _forms(message)
        if not all(form.strip() for form in forms):
            problems.append(f"untranslated: {_show(message.id)}")
        if message.fuzzy:
            problems.append(f"fuzzy (review it, then drop the flag): {_show(message.id)}")
        if message.pluralizable and len(forms) != catalog.num_plurals:
            problems.append(
                f"{len(forms)} plural form(s) instead of {catalog.num_plurals}: {_show(message.id)}"
            )
    assert not problems, f"{locale}/bot.po:\n" + "\n".join(problems)


def test_english_catalog_is_the_source_text() -> None:
    catalog = _read_po(_po_path("en"), locale="en")
    differs = [
        _show(message.id) for message in _messages(catalog)
        if _forms(message) != (tuple(message.id) if message.pluralizable else (message.id,))
    ]
    assert not differs, f"en/bot.po should repeat each msgid verbatim; differs: {differs}"


def test_placeholders_are_kept(po: tuple[str, Catalog]) -> None:
    locale, catalog = po
    problems = []
    for message in _messages(catalog):
        ids = tuple(message.id) if message.pluralizable else (message.id,)
        for index, form in enumerate(_forms(message)):
            if not form:
                continue  # reported by test_every_message_is_translated
            # With one plural form it serves every n, so it must match msgid_plural.
            source = ids[-1] if catalog.num_plurals == 1 else ids[min(index, len(ids) - 1)]
            where = f"{locale}/bot.po {_show(message.id)} form {index}"
            expected, got = _fields(source, where), _fields(form, where)
            if expected != got:
                problems.append(
                    f"{where}: dropped {sorted(expected - got)}, added {sorted(got - expected)}"
                )
    assert not problems, "translations must keep every {placeholder}:\n" + "\n".join(problems)


@pytest.mark.parametrize("locale", [code for code in SUPPORTED if code.startswith("zh")])
def test_chinese_catalogs_are_chinese_in_the_right_script(locale: str) -> None:
    catalog = _read_po(_po_path(locale), locale=locale)
    foreign = SIMPLIFIED_ONLY if locale == "zh_Hant" else TRADITIONAL_ONLY
    problems = []
    for message in _messages(catalog):
        source = message.id if isinstance(message.id, str) else message.id[0]
        # Pure layout entries ("{index}. {label}: {name}", ", ") have no words to translate.
        has_words = any(c.isalpha() for c in re.sub(r"\{[^}]*\}", "", source))
        for form in _forms(message):
            if has_words and form and not any("\u4e00" <= char <= "\u9fff" for char in form):
                problems.append(f"{_show(message.id)} is not translated: {form!r}")
            if wrong := sorted(set(form) & foreign):
                problems.append(f"{_show(message.id)} uses the other script's {wrong}: {form!r}")
            if locale == "zh_Hant":
                problems += [
                    f"{_show(message.id)} uses the mainland term {term!r}: {form!r}"
                    for term in MAINLAND_TERMS_IN_HANT if term in form
                ]
    assert not problems, f"{locale}/bot.po:\n" + "\n".join(problems)


def test_compiled_catalogs_match_their_sources(po: tuple[str, Catalog]) -> None:
    locale, catalog = po
    mo_path = _po_path(locale).with_suffix(".mo")
    compile_hint = "run pybabel compile -d locales -D bot"
    assert mo_path.is_file(), f"{locale}/bot.mo is missing: {compile_hint}"
    with mo_path.open("rb") as handle:
        compiled = read_mo(handle)
    expected = {
        _key(message): _forms(message) for message in _messages(catalog)
        if not message.fuzzy and all(_forms(message))
    }
    actual = {_key(message): _forms(message) for message in _messages(compiled)}
    changed = sorted(_show(key) for key in expected.keys() & actual.keys()
                     if expected[key] != actual[key])
    missing = sorted(map(_show, expected.keys() - actual.keys()))
    extra = sorted(map(_show, actual.keys() - expected.keys()))
    assert not (changed or missing or extra), (
        f"{locale}/bot.mo is out of date with its .po: {compile_hint}\n"
        f"Changed: {changed}\nMissing from .mo: {missing}\nOnly in .mo: {extra}"
    )


def test_compiled_catalogs_ship_in_the_wheel(tmp_path: Path) -> None:
    """A non-editable install must translate: the built wheel carries bot/locales/*.mo."""
    assert LOCALES_DIR == ROOT / "locales", "a source checkout reads the top-level locales/"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    shipped = {name.split("/")[2] for name in names if fnmatch.fnmatch(name, f"bot/{MO_GLOB}")}
    assert set(SUPPORTED) <= shipped, f"no compiled catalog for {sorted(set(SUPPORTED) - shipped)}"


def test_translator_speaks_each_locale() -> None:
    english, simplified, traditional = (translator(code)._("Video") for code in SUPPORTED)
    assert english == "Video"
    assert simplified == "视频", f"zh_Hans translator returned {simplified!r}; is bot.mo loaded?"
    assert traditional == "影片", f"zh_Hant translator returned {traditional!r}"
    plural = translator("zh_Hans").n_("📥 Received {n} file:", "📥 Received {n} files:", 3)
    assert plural.format(n=3) == "📥 收到 3 个文件：", plural


def test_command_menu_descriptions_fit_telegram() -> None:
    from bot.telegram.lifecycle import command_menu

    for locale in SUPPORTED:
        for command in command_menu(locale):
            assert 1 <= len(command.description) <= 256, (
                f"/{command.command} description in {locale} must be 1-256 characters: "
                f"{command.description!r}"
            )


@pytest.mark.parametrize(("locale", "expected"), [
    ("en", "2 hours ago"), ("zh_Hans", "2小时前"), ("zh_Hant", "2 小時前"),
])
def test_history_times_read_as_a_person_reads_them(locale: str, expected: str) -> None:
    assert translator(locale).ago(1_000_000.0, now=1_000_000.0 + 2 * 3600 + 100) == expected


# Where user-facing strings may be written (docs/architecture.md, "every user-facing string"):
# the catalogs' source modules, the agent wording rewritten in gui/timeline, the command menu,
# and a few button labels beside their buttons.
STRING_MODULES = {
    "bot/conversation/messages.py", "bot/conversation/local_messages.py",
    "bot/conversation/settings_messages.py", "bot/conversation/gui.py",
    "bot/conversation/timeline.py", "bot/telegram/lifecycle.py", "bot/i18n.py",
    "bot/conversation/export.py", "bot/conversation/outbox.py", "bot/conversation/flows.py",
    "bot/conversation/media.py",
}


def test_user_facing_strings_live_where_the_architecture_says() -> None:
    pattern = re.compile(r"\b(?:t|ctx\.t|self\.t)\._\(|\bn_\(|\b_\(\"")
    found = {
        str(path.relative_to(ROOT)) for path in (ROOT / "bot").rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    }
    assert found <= STRING_MODULES, sorted(found - STRING_MODULES)
