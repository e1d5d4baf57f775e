"""Settings from the environment; one place, validated at start so a bad deploy fails fast."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from bot.compress import Ffmpeg

DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
DEFAULT_NEMO_API_URL = "https://mega-api-prod.nemovideo.ai"


def _http_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise ValueError("must be an http(s) URL")
    return value


class Settings(BaseSettings):
    """Everything an operator can set. Only TELEGRAM_BOT_TOKEN is required."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    telegram_bot_token: SecretStr
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    telegram_local_mode: bool = False
    nemo_api_url: str = DEFAULT_NEMO_API_URL
    nemo_token: SecretStr | None = None
    skill_platform: str = "telegram"
    database_url: str = "sqlite:///data/bot.db"
    still_working_seconds: PositiveFloat = 120
    typing_per_second: PositiveFloat = 20
    render_poll_seconds: PositiveFloat = 30
    render_timeout_seconds: PositiveFloat = 1800
    rate_limit_retry_seconds: NonNegativeFloat = 30
    sse_timeout_seconds: PositiveFloat = 900
    backend_timeout_seconds: PositiveFloat = 30
    allow_private_urls: bool = False
    allowed_chat_ids: Annotated[frozenset[int] | None, NoDecode] = None
    auto_export: bool = True
    log_level: str = "INFO"
    max_concurrent_updates: PositiveInt = 1024
    max_backend_connections: PositiveInt = 1000
    replica_lease_seconds: PositiveFloat = 30
    shutdown_grace_seconds: NonNegativeFloat = 8
    turn_rate_limit: NonNegativeInt = 6
    max_pending_jobs: NonNegativeInt = 20
    prune_interval_seconds: PositiveFloat = 3600
    temp_dir: Path | None = None
    transfer_progress_seconds: PositiveFloat = 3
    log_format: Literal["text", "json"] = "text"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    port: int = Field(default=8080, ge=0, le=65535)
    health_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_health_port_only: bool = False
    local_compression: Literal["fallback", "always", "off"] = "fallback"
    ffmpeg_binary: str | None = None
    local_encode_concurrency: PositiveInt = 1

    @field_validator("telegram_api_url", "nemo_api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _check_webhook_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        url = _http_url(str(value))
        if not urlsplit(url).hostname:
            raise ValueError("must be an http(s) URL with a host")
        return url

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _check_webhook_secret(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", text):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("health_port", "nemo_token", "ffmpeg_binary", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_format", "local_compression", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("telegram_bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("allowed_chat_ids", mode="before")
    @classmethod
    def _parse_ids(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            try:
                return frozenset(int(part) for part in value.split(",") if part.strip())
            except ValueError:
                raise ValueError("must be comma-separated chat ids") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, value: str) -> str:
        if value.startswith(("postgresql://", "postgres://")):
            if not value.split("://", 1)[1]:
                raise ValueError("must look like postgresql://user:password@host:5432/dbname")
            return value
        if not value.startswith("sqlite:///") or len(value) <= len("sqlite:///"):
            raise ValueError(
                "must look like sqlite:///relative/path.db, sqlite:////abs/path.db"
                " or postgresql://user:password@host:5432/dbname"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value

    @field_validator("temp_dir", mode="before")
    @classmethod
    def _empty_dir_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def backend_enabled(self) -> bool:
        """LOCAL_COMPRESSION=always: the bot never contacts the backend (no token, no session)."""
        return self.local_compression != "always"

    @property
    def temp_base(self) -> Path:
        """Where temporary files go: TEMP_DIR, or the system's temporary directory."""
        return self.temp_dir or Path(tempfile.gettempdir())

    @property
    def database_path(self) -> Path:
        """sqlite:///rel.db is relative to the working directory, sqlite:////abs.db absolute."""
        return Path(self.database_url[len("sqlite:///") :])

    @property
    def uses_postgres(self) -> bool:
        """PostgreSQL is the store several replicas can share; SQLite is one process's."""
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def webhook_path(self) -> str:
        """Where the web server listens for Telegram's POSTs: the path of WEBHOOK_URL."""
        return urlsplit(self.webhook_url or "").path or "/"

    def secrets(self) -> list[str]:
        """Every secret value the logs must mask."""
        values = [self.telegram_bot_token, self.nemo_token, self.webhook_secret]
        found = [v.get_secret_value() for v in values if v is not None]
        db_password = urlsplit(self.database_url).password if self.uses_postgres else None
        return [*found, db_password] if db_password else found


class ConfigError(Exception):
    """One line an operator can act on: which variable, what is wrong."""


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "configuration"
        if err["type"] == "missing":
            raise ConfigError(f"{name} is required but not set") from None
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{name}: {msg}") from None
    if settings.webhook_url and settings.uses_postgres and settings.webhook_secret is None:
        # Replicas share a PostgreSQL store; each would generate its own secret and refuse the
        # deliveries Telegram makes with another replica's.
        raise ConfigError(
            "WEBHOOK_SECRET is required in webhook mode with a PostgreSQL DATABASE_URL "
            "(every replica must use the same one)"
        )
    return settings


def local_ffmpeg(settings: Settings) -> Ffmpeg | None:
    """The ffmpeg local compression uses, or None (then fallback behaves like off).

    LOCAL_COMPRESSION=always without an ffmpeg is a configuration error: the bot could do nothing.
    """
    if settings.local_compression == "off":
        return None
    from bot.compress import find_ffmpeg

    found = find_ffmpeg(settings.ffmpeg_binary)
    if found is None and settings.local_compression == "always":
        where = (f"FFMPEG_BINARY={settings.ffmpeg_binary} does not run" if settings.ffmpeg_binary
                 else "no ffmpeg on PATH and the [local] extra is not installed")
        raise ConfigError(f"LOCAL_COMPRESSION=always needs ffmpeg: {where}")
    return found
