"""/healthz and /metrics on the bot's web server, through the real Application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import __version__
from bot.sandbox.harness import Harness

ALICE = 3001
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(300_000)
COMPRESS = "compress this video to a smaller file size without losing quality"


@pytest.fixture
async def hp(tmp_path: Path) -> AsyncIterator[Harness]:
    """Polling mode with HEALTH_PORT set (0: the OS picks)."""
    harness = Harness(tmp_path, health_port=0)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_healthz_in_polling_mode_reports_a_healthy_bot(hp: Harness) -> None:
    response = await get(f"{hp.web_url}/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["version"] == __version__
    assert body["mode"] == "polling"
    assert body["store_ok"] is True and body["update_loop_ok"] is True
    assert body["pending_jobs"] == 0 and body["running_chats"] == 0
    assert body["uptime_seconds"] >= 0


async def test_healthz_is_503_when_the_store_is_broken(hp: Harness) -> None:
    await hp.runtime.svc.store.close()  # the database connection is gone
    response = await get(f"{hp.web_url}/healthz")
    assert response.status_code == 503
    assert response.json()["store_ok"] is False


async def test_healthz_is_503_when_updates_stop_being_fetched(hp: Harness) -> None:
    assert hp.app is not None and hp.app.updater is not None
    await hp.app.updater.stop()
    response = await get(f"{hp.web_url}/healthz")
    assert response.status_code == 503
    assert response.json()["update_loop_ok"] is False


async def test_webhook_mode_serves_health_on_the_webhook_port(tmp_path: Path) -> None:
    async with Harness(tmp_path, webhook_url="https://bot.example.org/hook") as harness:
        response = await get(f"{harness.web_url}/healthz")
    assert response.status_code == 200
    assert response.json()["mode"] == "webhook"


async def test_metrics_parse_and_count_a_turn_and_a_delivery(hp: Harness) -> None:
    before = samples((await get(f"{hp.web_url}/metrics")).text)
    await hp.tg.send_video(ALICE, VIDEO, file_name="clip.mp4", duration=12)
    await hp.tg.wait_for_message(ALICE, contains="Received")
    await hp.tg.send_text(ALICE, COMPRESS)
    await hp.tg.wait_for_message(ALICE, kind="video", timeout=15)
    await hp.idle()
    response = await get(f"{hp.web_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("bot_turns_total", outcome="ok") == 1
    assert grew("bot_turn_duration_seconds_count") == 1
    assert grew("bot_updates_received_total", type="message") == 2
    assert grew("bot_renders_total", outcome="ok") == 1
    assert grew("bot_render_duration_seconds_count") == 1
    assert grew("bot_deliveries_total", kind="video") == 1
    assert after[("bot_queue_depth", ())] == 0
    assert ("bot_running_chats", ()) in after
    label_values = {v for (_, labels) in after for _, v in labels}
    assert str(ALICE) not in label_values
    assert not any(hp.tg.token in v or "nmv_usr" in v for v in label_values)


async def test_backend_errors_are_counted_by_code(hp: Harness) -> None:
    before = samples((await get(f"{hp.web_url}/metrics")).text)
    hp.backend.fail("run_sse", 2001)  # no credits left
    await hp.tg.send_text(ALICE, "make it shorter")
    await hp.tg.wait_for_message(ALICE)
    await hp.idle()
    after = samples((await get(f"{hp.web_url}/metrics")).text)
    key = ("bot_backend_errors_total", (("code", "2001"),))
    assert after.get(key, 0) - before.get(key, 0) == 1


async def test_time_held_back_by_telegrams_limit_is_measured_apart(hp: Harness) -> None:
    """A 429 makes the answer wait its retry_after: that second is counted as held back by
    the rate limiter (Telegram's limit), not as time in flight."""
    before = samples((await get(f"{hp.web_url}/metrics")).text)
    hp.tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await hp.tg.send_text(ALICE, "tell me about the pacing")
    await hp.tg.wait_for_message(ALICE, contains="pacing", timeout=15)
    await hp.idle()
    after = samples((await get(f"{hp.web_url}/metrics")).text)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    sends = len([c for c in hp.tg.calls_of("sendMessage") if c.ok])
    assert grew("bot_telegram_limiter_wait_seconds_count", method="sendMessage") == sends
    held = grew("bot_telegram_limiter_wait_seconds_sum", method="sendMessage")
    assert 1.0 <= held < 3.0
    # Under a second for every other send: only the refused one waited.
    assert grew("bot_telegram_limiter_wait_seconds_bucket", method="sendMessage",
                le="1.0") == sends - 1
    assert after[("bot_telegram_limiter_waiting", ())] == 0
