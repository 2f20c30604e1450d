"""The durability and latency promises of docs/operations.md, held under load: Redis killed,
paused and slowed, and the service stopped while Redis is down. Each scenario is what
`witryna bench-faults` runs and reports; here the same figures are held to the promises."""

from __future__ import annotations

from typing import Any

import pytest

from bench import fault_runs
from service.settings import Settings

RATE = 200.0
DEADLINE_MS = Settings().redis_deadline_ms

pytestmark = [pytest.mark.slow, pytest.mark.serial]


def kept_exactly_once(figures: dict[str, Any]) -> None:
    print({k: v for k, v in figures.items() if k != "timeline"})
    assert figures["acknowledged"] > 0
    assert figures["found"] == figures["acknowledged"], "every event answered 202 is in Redis"
    assert figures["missing"] == 0
    assert (figures["stored_twice"], figures["counted_twice"]) == (0, 0)
    assert figures["server_errors"] == 0


def test_redis_killed_and_restarted_under_load_loses_nothing_and_recovers() -> None:
    figures = fault_runs.kill_redis(RATE, 60.0)
    kept_exactly_once(figures)
    assert figures["unanswered"] == 0
    assert figures["degraded_page_views"] > 0, "the outage was seen"
    assert figures["recovery_s"] <= 2.0
    assert figures["readiness_changes"] <= 2
    assert figures["page_view_ms_during_fault"]["p99_ms"] <= DEADLINE_MS


def test_the_service_stopped_while_redis_is_down_replays_its_journal_at_the_next_start() -> None:
    figures = fault_runs.stop_service_while_redis_is_down(RATE, 9.0)
    kept_exactly_once(figures)
    assert figures["unanswered"] > 0, "requests were sent to the stopped service"


@pytest.mark.parametrize("how", ["pause", "slow"])
def test_a_stalled_redis_holds_no_page_view_past_the_deadline(how: str) -> None:
    figures = fault_runs.stall_redis(how, RATE, 10.0)
    kept_exactly_once(figures)
    assert figures["page_view_ms_during_fault"]["p99_ms"] <= DEADLINE_MS + 20
    assert figures["readiness_changes"] <= 2
    assert figures["recovery_s"] <= 2.0
