"""Typed answers; tolerant of extra fields and of optional ones going missing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class AnonymousToken(_Model):
    token: str
    user_id: str | None = None
    expires_at: datetime | None = None
    credits: float | None = None

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("expires_at", mode="before")
    @classmethod
    def _epoch(cls, value: Any) -> Any:
        if isinstance(value, int | float):
            # Seconds or milliseconds since the epoch: both have been seen in the wild.
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
        return value


class Session(_Model):
    session_id: str
    task_id: str | None = None
    user_id: str | None = None

    @field_validator("session_id", "task_id", "user_id", mode="before")
    @classmethod
    def _str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class UploadedFile(_Model):
    filename: str | None = None
    file_type: str | None = None
    cdn_url: str | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    hash: str | None = None


class UploadResult(_Model):
    files: list[UploadedFile] = Field(default_factory=list)


class Credits(_Model):
    available: float = 0
    frozen: float = 0
    total: float = 0


class SessionState(_Model):
    draft: dict[str, Any] | None = None
    video_infos: list[Any] = Field(default_factory=list)
    generated_media: list[Any] = Field(default_factory=list)


class StateResult(_Model):
    state: SessionState = Field(default_factory=SessionState)
    session_id: str | None = None
    task_id: str | None = None


class RenderStatus(_Model):
    """Render progress; the download URL is found wherever a backend version put it."""

    id: str | None = None
    status: str = "pending"
    url: str | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in {"completed", "failed"}

    @classmethod
    def parse(cls, payload: dict[str, Any]) -> RenderStatus:
        inner = payload.get("data") if isinstance(payload.get("data"), dict) else payload
        assert isinstance(inner, dict)
        url = None
        for source in (inner, payload):
            output = source.get("output")
            if isinstance(output, dict) and isinstance(output.get("url"), str):
                url = output["url"]
            elif isinstance(source.get("outputUrl"), str):
                url = source["outputUrl"]
            elif isinstance(source.get("output_url"), str):
                url = source["output_url"]
            if url:
                break
        status = str(inner.get("status") or payload.get("status") or "pending").lower()
        if status in {"success", "succeeded", "done", "finished"}:
            status = "completed"
        if status in {"error", "failure", "cancelled", "canceled", "expired", "timeout"}:
            status = "failed"
        if url and status not in {"completed", "failed"} and "status" not in inner:
            status = "completed"
        err = inner.get("error") or inner.get("message") or inner.get("msg")
        return cls(
            id=inner.get("id") or payload.get("id"),
            status=status,
            url=url,
            error=str(err) if err and status == "failed" else None,
        )
