"""Typed answers; tolerant of extra fields and of optional ones going missing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from bot.backend.errors import MalformedAnswer

MAX_UPLOAD_MB = 500
"""The largest file the backend accepts (backend-api.md, uploads), in the MB people read."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


def _id_text(value: Any) -> Any:
    """Some backend versions send ids as numbers: they are text either way."""
    return str(value) if isinstance(value, int) else value


IdText = Annotated[str, BeforeValidator(_id_text)]


class AnonymousToken(_Model):
    token: str
    user_id: IdText | None = None
    expires_at: datetime | None = None
    credits: float | None = None

    @field_validator("expires_at", mode="before")
    @classmethod
    def _epoch(cls, value: Any) -> Any:
        if isinstance(value, int | float):
            # Seconds or milliseconds since the epoch: both have been seen in the wild.
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
        return value


class Session(_Model):
    session_id: IdText
    task_id: IdText | None = None
    user_id: IdText | None = None


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
    """The agent's project. Odd shapes seen or feared (``null`` lists, a draft serialised
    as a JSON string) are read as what they mean instead of failing the whole answer."""

    draft: dict[str, Any] | None = None
    video_infos: list[Any] = Field(default_factory=list)
    generated_media: list[Any] = Field(default_factory=list)

    @field_validator("draft", mode="before")
    @classmethod
    def _draft(cls, value: Any) -> Any:
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value) if value.strip() else None
            except ValueError:
                return None
        return value if isinstance(value, dict) else None

    @field_validator("video_infos", "generated_media", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, dict):
            return [value]
        return value if isinstance(value, list) else []


class StateResult(_Model):
    state: SessionState = Field(default_factory=SessionState)
    session_id: IdText | None = None
    task_id: IdText | None = None
    user_id: IdText | None = None

    @field_validator("state", mode="before")
    @classmethod
    def _state(cls, value: Any) -> Any:
        return value if isinstance(value, dict | SessionState) else {}


class RenderStatus(_Model):
    """Render progress; the download URL is found wherever a backend version put it."""

    id: str | None = None
    status: str = "pending"
    url: str | None = None
    error: str | None = None
    progress: float | None = None
    """Share done, 0.0 to 1.0, when the backend reports one."""

    @staticmethod
    def _progress(*sources: dict[str, Any]) -> float | None:
        """``progress`` as 0-1 or 0-100 (a number or "40%"); 1 and below read as a fraction."""
        for source in sources:
            value = source.get("progress")
            if isinstance(value, str):
                try:
                    value = float(value.strip().rstrip("%"))
                except ValueError:
                    continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if value != value or value < 0:  # NaN or negative: meaningless
                continue
            return min(1.0, value if value <= 1 else value / 100)
        return None

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
        render_id = inner.get("id") or payload.get("id")
        return cls(
            id=str(render_id) if isinstance(render_id, int | str) else None,
            status=status,
            url=url,
            error=str(err) if err and status == "failed" else None,
            progress=cls._progress(inner, payload),
        )


M = TypeVar("M", bound=BaseModel)


def parse_answer(model: type[M], data: dict[str, Any], path: str) -> M:
    """Validate an answer; a shape the models cannot take is a backend error, not a crash."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise MalformedAnswer(f"unexpected {model.__name__}: {_first_error(exc)}",
                              path=path) from exc


def parse_render(data: dict[str, Any], path: str) -> RenderStatus:
    try:
        return RenderStatus.parse(data)
    except ValidationError as exc:
        raise MalformedAnswer(f"unexpected render status: {_first_error(exc)}",
                              path=path) from exc


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
