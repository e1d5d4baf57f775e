"""Typed answers: every documented (and seen-in-the-wild) shape parses to the same model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from bot.backend.models import (
    AnonymousToken,
    Credits,
    RenderStatus,
    Session,
    StateResult,
    UploadResult,
)

EXPIRY = datetime(2026, 1, 8, 12, 0, 0, tzinfo=UTC)
EPOCH = int(EXPIRY.timestamp())
URL = "https://cdn.example/render_1.mp4"


# --------------------------------------------------------------------------- AnonymousToken


@pytest.mark.parametrize(
    "expires_at",
    [
        "2026-01-08T12:00:00Z",
        "2026-01-08T12:00:00+00:00",
        "2026-01-08T20:00:00+08:00",
        EPOCH,
        float(EPOCH),
        EPOCH * 1000,
        float(EPOCH * 1000),
    ],
    ids=["iso-z", "iso-offset0", "iso-offset8", "epoch-s", "epoch-s-float", "epoch-ms",
         "epoch-ms-float"],
)
def test_anonymous_token_expiry_in_every_format(expires_at: Any) -> None:
    tok = AnonymousToken.model_validate(
        {"token": "nmv_usr_abc", "user_id": "anon_1", "expires_at": expires_at, "credits": 100}
    )
    assert tok.token == "nmv_usr_abc"
    assert tok.user_id == "anon_1"
    assert tok.credits == 100
    assert tok.expires_at is not None
    assert tok.expires_at.tzinfo is not None
    assert tok.expires_at == EXPIRY


def test_anonymous_token_optional_fields_and_extras() -> None:
    tok = AnonymousToken.model_validate({"token": "nmv_usr_x", "unknown_field": 1})
    assert tok.user_id is None
    assert tok.expires_at is None
    assert tok.credits is None
    assert tok.model_extra == {"unknown_field": 1}


def test_anonymous_token_requires_token() -> None:
    with pytest.raises(ValidationError):
        AnonymousToken.model_validate({"user_id": "anon_1"})


# --------------------------------------------------------------------------- Session


@pytest.mark.parametrize("sid", ["1000001", 1000001])
def test_session_id_numeric_or_string(sid: Any) -> None:
    s = Session.model_validate({"task_id": 77, "session_id": sid})
    assert s.session_id == "1000001"
    assert isinstance(s.session_id, str)
    assert s.task_id == "77"
    assert s.user_id is None


def test_session_with_user_id_and_extras() -> None:
    s = Session.model_validate(
        {"task_id": "task_1", "session_id": "42", "user_id": "anon_9", "extra": True}
    )
    assert (s.session_id, s.task_id, s.user_id) == ("42", "task_1", "anon_9")


# --------------------------------------------------------------------------- others


def test_upload_result_full_and_empty() -> None:
    info = {
        "filename": "a.mp4",
        "file_type": "video",
        "cdn_url": "https://cdn/a.mp4",
        "duration": 10.5,
        "width": 1920,
        "height": 1080,
        "fps": 29.97,
        "hash": "abc",
    }
    res = UploadResult.model_validate({"files": [info, {"filename": "b.png"}]})
    assert res.files[0].cdn_url == "https://cdn/a.mp4"
    assert res.files[0].duration == 10.5
    assert res.files[0].fps == 29.97
    assert res.files[1].file_type is None
    assert UploadResult.model_validate({}).files == []


def test_credits_defaults_and_values() -> None:
    assert Credits.model_validate({"available": 7, "frozen": 1, "total": 8}) == Credits(
        available=7, frozen=1, total=8
    )
    assert Credits.model_validate({}).available == 0


def test_state_result_defaults() -> None:
    draft = {"t": [{"tt": 0, "sg": [{"d": 1000}]}]}
    st = StateResult.model_validate(
        {"session_id": "1", "task_id": "t", "state": {"draft": draft, "video_infos": [{"a": 1}]}}
    )
    assert st.state.draft == draft
    assert st.state.video_infos == [{"a": 1}]
    assert st.state.generated_media == []
    empty = StateResult.model_validate({})
    assert empty.state.draft is None
    assert empty.session_id is None


# --------------------------------------------------------------------------- RenderStatus


def _data(status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {"id": "render_1", "status": status, **extra}


@pytest.mark.parametrize(
    "payload",
    [
        {"code": 0, "data": _data(output={"url": URL})},  # output.url under data
        _data(output={"url": URL}),  # data.output.url, already unwrapped
        {"code": 0, "data": _data(outputUrl=URL)},
        _data(outputUrl=URL),
        _data(output_url=URL),
        {"code": 0, **_data(output={"url": URL})},  # top-level output
        {"code": 0, "data": _data(), "output": {"url": URL}},  # url beside data
        {"code": 0, "data": _data(), "outputUrl": URL},
        {"success": True, "data": _data(output={"url": URL})},
        {"success": True, "data": _data(outputUrl=URL)},
        _data(output={"url": URL}, extra={"x": 1}),  # bare
    ],
    ids=[
        "code-data-output", "data-output", "code-data-outputUrl", "outputUrl", "output_url",
        "top-output", "output-beside-data", "outputUrl-beside-data", "success-output",
        "success-outputUrl", "bare",
    ],
)
def test_render_status_url_in_every_shape(payload: dict[str, Any]) -> None:
    r = RenderStatus.parse(payload)
    assert r.id == "render_1"
    assert r.status == "completed"
    assert r.url == URL
    assert r.error is None


@pytest.mark.parametrize("status", ["pending", "processing", "PROCESSING", "Pending"])
def test_render_status_in_progress(status: str) -> None:
    for payload in (_data(status), {"code": 0, "data": _data(status)},
                    {"success": True, "data": _data(status)}):
        r = RenderStatus.parse(payload)
        assert r.status == status.lower()
        assert r.url is None
        assert r.error is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("completed", "completed"),
        ("success", "completed"),
        ("succeeded", "completed"),
        ("done", "completed"),
        ("finished", "completed"),
        ("failed", "failed"),
        ("error", "failed"),
        ("failure", "failed"),
    ],
)
def test_render_status_synonyms(raw: str, expected: str) -> None:
    r = RenderStatus.parse({"id": "r", "status": raw})
    assert r.status == expected


@pytest.mark.parametrize("key", ["error", "message", "msg"])
def test_render_failed_carries_error(key: str) -> None:
    r = RenderStatus.parse({"success": True, "data": _data("failed", **{key: "encoder died"})})
    assert r.status == "failed"
    assert r.error == "encoder died"
    assert r.url is None


def test_render_error_ignored_unless_failed() -> None:
    r = RenderStatus.parse(_data("processing", message="working on it"))
    assert r.error is None


def test_render_url_without_status_means_completed() -> None:
    r = RenderStatus.parse({"id": "r", "output": {"url": URL}})
    assert r.status == "completed"
    assert r.url == URL


def test_render_url_with_explicit_processing_status_stays_processing() -> None:
    r = RenderStatus.parse(_data("processing", output={"url": URL}))
    assert r.status == "processing"


def test_render_defaults_when_empty() -> None:
    r = RenderStatus.parse({})
    assert r.id is None
    assert r.status == "pending"
    assert r.url is None


def test_render_id_and_status_from_top_level_when_data_lacks_them() -> None:
    r = RenderStatus.parse({"id": "render_9", "status": "completed", "data": {"outputUrl": URL}})
    assert r.id == "render_9"
    assert r.status == "completed"
    assert r.url == URL


def test_render_output_without_url_is_not_a_url() -> None:
    r = RenderStatus.parse(_data("processing", output={"format": "mp4"}))
    assert r.url is None
