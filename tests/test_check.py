"""`python -m bot check` as an operator (or a container health check) runs it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot.sandbox.backend import FakeBackend
from bot.sandbox.telegram import FakeTelegram

TOKEN = "987654:CHECK-SECRET"
ROOT = Path(__file__).parent.parent


async def check(cwd: Path, **settings: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NEMO_"))}
    env.pop("DATABASE_URL", None)
    env.update(settings, PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "check", cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _lines(out: str) -> dict[str, str]:
    """check's output by check name: {'database': '✓ database: …'}."""
    return {line[2:].split(":", 1)[0]: line for line in out.strip().splitlines()}


async def test_good_setup_passes_with_one_line_per_check(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        code, out, err = await check(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN,
                                     TELEGRAM_API_URL=tg.url, NEMO_API_URL=backend.url)
    assert code == 0, out + err
    lines = out.strip().splitlines()
    assert all(line.startswith("✓ ") for line in lines), out
    assert set(_lines(out)) == {"configuration", "Telegram", "backend", "database",
                                "temp directory", "ffmpeg"}
    assert "@rtk_compressor_bot" in _lines(out)["Telegram"]
    assert "schema version" in _lines(out)["database"]
    assert err == ""
    assert "CHECK-SECRET" not in out
    assert (tmp_path / "data" / "bot.db").exists()  # opened and migrated


async def test_operator_token_is_checked_by_asking_for_credits(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        token = backend.issue_token(credits=42).token
        code, out, _ = await check(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url,
                                   NEMO_API_URL=backend.url, NEMO_TOKEN=token)
    assert code == 0, out
    assert "42 credits" in _lines(out)["backend"]
    assert token not in out


async def test_rejected_token_fails_without_traceback_or_secret(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        code, out, err = await check(tmp_path, TELEGRAM_BOT_TOKEN="111:WRONG-SECRET",
                                     TELEGRAM_API_URL=tg.url, NEMO_API_URL=backend.url)
    assert code != 0
    assert _lines(out)["Telegram"].startswith("✗ ")
    assert "TELEGRAM_BOT_TOKEN was rejected" in _lines(out)["Telegram"]
    assert _lines(out)["backend"].startswith("✓ ")
    assert "WRONG-SECRET" not in out + err and "Traceback" not in out + err


async def test_unreachable_backend_fails(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as tg:
        code, out, err = await check(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN,
                                     TELEGRAM_API_URL=tg.url,
                                     NEMO_API_URL="http://127.0.0.1:9")
    assert code != 0
    assert _lines(out)["backend"].startswith("✗ ")
    assert "http://127.0.0.1:9" in _lines(out)["backend"]
    assert "Traceback" not in out + err and "CHECK-SECRET" not in out + err


async def test_unwritable_database_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the database's folder should be")
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        code, out, err = await check(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN,
                                     TELEGRAM_API_URL=tg.url, NEMO_API_URL=backend.url,
                                     DATABASE_URL=f"sqlite:///{blocker}/bot.db")
    assert code != 0
    assert _lines(out)["database"].startswith("✗ database: cannot open")
    assert _lines(out)["Telegram"].startswith("✓ ")
    assert "Traceback" not in out + err


async def test_bad_configuration_is_one_line(tmp_path: Path) -> None:
    code, out, err = await check(tmp_path, TELEGRAM_BOT_TOKEN="1:x", WEBHOOK_SECRET="no spaces")
    assert code == 2
    assert out.strip().splitlines() == [
        "✗ configuration: WEBHOOK_SECRET: must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
    ]
    assert "Traceback" not in err


async def _check_temp_dir(cwd: Path, temp_dir: Path) -> tuple[int, str]:
    """`check` against both fakes with this TEMP_DIR: its exit code and output."""
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        code, out, _ = await check(cwd, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url,
                                   NEMO_API_URL=backend.url, TEMP_DIR=str(temp_dir))
    return code, out


async def test_the_temp_directory_checked_is_temp_dir(tmp_path: Path) -> None:
    """TEMP_DIR is what the bot writes exports to, so that is what check tests (it tested
    the system's temp directory, which was fine while TEMP_DIR was not)."""
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    code, out = await _check_temp_dir(tmp_path, not_a_dir / "sub")
    assert code == 1, out
    line = _lines(out)["temp directory"]
    assert line.startswith("✗ ") and str(not_a_dir / "sub") in line


async def test_a_planted_temp_directory_is_refused(tmp_path: Path) -> None:
    """Someone else's directory (or a symlink) at TEMP_DIR/rtk-compressor-bot is never used."""
    base = tmp_path / "shared-tmp"
    base.mkdir()
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir()
    (base / "rtk-compressor-bot").symlink_to(elsewhere)
    code, out = await _check_temp_dir(tmp_path, base)
    assert code == 1, out
    assert "symbolic link" in _lines(out)["temp directory"]
    (base / "rtk-compressor-bot").unlink()
    (base / "rtk-compressor-bot").mkdir()
    os.chown(base / "rtk-compressor-bot", 54321, 54321)
    code, out = await _check_temp_dir(tmp_path, base)
    assert code == 1, out
    assert "another user" in _lines(out)["temp directory"]
    assert list(elsewhere.iterdir()) == []


async def test_ffmpeg_line_names_the_binary_its_version_and_encoders(tmp_path: Path) -> None:
    import imageio_ffmpeg

    binary = imageio_ffmpeg.get_ffmpeg_exe()
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        code, out, _ = await check(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url,
                                   NEMO_API_URL=backend.url, FFMPEG_BINARY=binary)
    assert code == 0, out
    line = _lines(out)["ffmpeg"]
    assert line.startswith(f"✓ ffmpeg: {binary}, version "), line
    assert "libx264 ✓" in line
    assert "libx265" in line


async def test_always_mode_never_asks_the_backend(tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        code, out, _ = await check(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url,
                                   NEMO_API_URL=backend.url, LOCAL_COMPRESSION="always")
        assert backend.requests == []
    assert code == 0, out
    assert "not used" in _lines(out)["backend"]


async def test_always_mode_without_ffmpeg_is_a_configuration_error(tmp_path: Path) -> None:
    code, out, err = await check(tmp_path, TELEGRAM_BOT_TOKEN="1:x", LOCAL_COMPRESSION="always",
                                 FFMPEG_BINARY=str(tmp_path / "no-ffmpeg"))
    assert code == 2
    lines = out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("✗ configuration: LOCAL_COMPRESSION=always")
    assert "Traceback" not in err


async def test_fallback_without_ffmpeg_passes_and_says_local_compression_is_off(
        tmp_path: Path) -> None:
    async with FakeTelegram(TOKEN) as tg, FakeBackend() as backend:
        code, out, _ = await check(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url,
                                   NEMO_API_URL=backend.url,
                                   FFMPEG_BINARY=str(tmp_path / "no-ffmpeg"))
    assert code == 0, out
    assert "local compression is off" in _lines(out)["ffmpeg"]
