"""The latency curve against the share of saturation, and the verdict on the 70% goal."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from bench.curve import LINE_ID, TITLE, draw, line, points, verdict
from bench.load import FLOOR, PAGE_VIEWS, saturation_ratio, slice_ratios, summarise

SVG = "{http://www.w3.org/2000/svg}"


def _run(path: str, rate: float, p99: float, throughput: float = 100.0) -> dict[str, Any]:
    """A run of ``throughput`` requests over one second, 1% of them at ``p99``."""
    count = int(throughput)
    latencies = [1.0] * (count - count // 50) + [p99] * (count // 50)
    raw = {"seconds": 1.0, "sent": count, "errors": 0, "degraded": 0, "latencies_ms": latencies}
    return summarise(path, rate, [raw])


def _runs(p99_at_600: float) -> list[dict[str, Any]]:
    return [
        _run(PAGE_VIEWS, 200.0, 4.0),
        _run(PAGE_VIEWS, 600.0, p99_at_600),
        _run(PAGE_VIEWS, 900.0, 80.0),
        _run(FLOOR, 600.0, 300.0),
        _run(PAGE_VIEWS, 0.0, 200.0, throughput=1000.0),
        _run(FLOOR, 0.0, 150.0, throughput=1500.0),
    ]


def test_the_goal_holds_when_every_rate_up_to_70_percent_has_p99_within_10_ms() -> None:
    found = verdict(_runs(p99_at_600=9.5))
    # Saturation 1,000/s: 200 and 600/s are within 70% of it, 900/s is not.
    assert [p["share"] for p in found["points"]] == [0.2, 0.6, 0.9]
    assert (found["within"], found["holds"], found["worst_p99_ms"]) == (2, True, 9.5)
    assert "(700 page views/s): **holds** (worst p99 9.50 ms over 2 rate(s))" in line(found)


def test_one_rate_past_10_ms_below_70_percent_fails_the_goal() -> None:
    found = verdict(_runs(p99_at_600=12.0))
    assert found["holds"] is False
    assert "**does not hold** (worst p99 12.00 ms" in line(found)


def test_without_a_rate_below_70_percent_the_goal_is_not_shown() -> None:
    found = verdict([_run(PAGE_VIEWS, 900.0, 5.0), _run(PAGE_VIEWS, 0.0, 9.0, 1000.0)])
    assert found["holds"] is None
    assert "**not shown**, no rate was offered at or below 700/s" in line(found)


def test_the_curve_draws_both_percentiles_the_70_percent_mark_and_the_goal(
    tmp_path: Path,
) -> None:
    svg, png = draw(_runs(p99_at_600=9.5), "a run", tmp_path / "bench-x-curve")
    root = ET.parse(svg).getroot()
    ids = {g.get("id", "") for g in root.iter(f"{SVG}g")}
    lines = {LINE_ID.format(stat=stat) for stat in ("p50_ms", "p99_ms")}
    assert lines | {"goal", "near capacity"} <= ids
    texts = {"".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")}
    assert {TITLE, "70% of saturation", "p99 10 ms", "600/s"} <= texts
    assert "offered rate, % of saturation (1,000/s)" in texts
    assert png.stat().st_size > 0


def test_degraded_answers_count_neither_in_saturation_nor_in_its_share() -> None:
    """Default content past a deadline runs no model: 2,000 answers in 4 s of which 400
    degraded are 400 page views a second, so the ratio to the floor and the 70% point use
    400, not 500."""
    answers = {"seconds": 2.0, "sent": 2000, "errors": 0, "latencies_ms": [5.0] * 1000}
    pages = summarise(PAGE_VIEWS, 0.0, [{**answers, "degraded": 300}, {**answers, "degraded": 100}])
    floor = summarise(FLOOR, 0.0, [{**answers, "degraded": 0}, {**answers, "degraded": 0}])
    assert pages["throughput"] == 500.0
    assert pages["personalised"] == 400.0
    assert pages["personalised_slices"] == [350.0, 450.0]
    runs = [_run(PAGE_VIEWS, 240.0, 4.0), pages, floor]
    assert saturation_ratio(runs) == 0.8
    assert slice_ratios(runs) == [0.7, 0.9]
    assert points(runs)[0]["share"] == 0.6
