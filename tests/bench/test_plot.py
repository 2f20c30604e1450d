from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from bench.plot import svg

NS = {"s": "http://www.w3.org/2000/svg"}


def _run(path: str, rate: Any, p50: float, p99: float, **extra: Any) -> dict[str, Any]:
    return {"path": path, "rate": rate, "p50_ms": p50, "p99_ms": p99, **extra}


def _runs(cpu: bool) -> list[dict[str, Any]]:
    pv_cpu = {"event loop": 900.0, "Granian": 100.0, "other threads": 20.0, "Redis": 80.0}
    floor_cpu = {"event loop": 600.0, "Granian": 100.0, "other threads": 20.0, "Redis": 40.0}
    with_cpu = (
        ({"cpu_us": {**pv_cpu, "total": 1100.0}}, {"cpu_us": {**floor_cpu, "total": 760.0}})
        if cpu
        else ({}, {})
    )
    return [
        _run("/v1/page-views", 250.0, 3.0, 5.0), _run("/v1/floor", 250.0, 2.0, 4.0),
        _run("/v1/page-views", 1000.0, 900.0, 2000.0), _run("/v1/floor", 1000.0, 20.0, 120.0),
        _run("/v1/page-views", "saturation", 130.0, 230.0, **with_cpu[0]),
        _run("/v1/floor", "saturation", 100.0, 140.0, **with_cpu[1]),
    ]  # fmt: skip


def test_latency_lines_rise_with_latency_and_the_goal_sits_on_the_10_ms_gridline() -> None:
    root = ET.fromstring(svg(_runs(cpu=True), "a run"))
    lines = {(p.get("data-path"), p.get("class")): p for p in root.iterfind("s:polyline", NS)}
    assert set(lines) == {
        (path, stat) for path in ("/v1/page-views", "/v1/floor") for stat in ("p50_ms", "p99_ms")
    }
    points = lines["/v1/page-views", "p99_ms"].get("points", "").split()
    p99 = [tuple(map(float, xy.split(","))) for xy in points]
    assert len(p99) == 3
    assert [x for x, _ in p99] == sorted(x for x, _ in p99)
    # 5 ms, 2,000 ms, 230 ms: higher latency is drawn higher, that is at a smaller y.
    assert p99[1][1] < p99[2][1] < p99[0][1]
    goal = root.find("s:line[@class='goal']", NS)
    assert goal is not None
    labels = {t.text: float(t.get("y", 0)) for t in root.iterfind("s:text", NS)}
    assert abs(float(goal.get("y1", 0)) + 4 - labels["10"]) < 0.1


def test_cpu_bars_are_stacked_in_proportion_and_left_out_when_not_measured() -> None:
    root = ET.fromstring(svg(_runs(cpu=True), "a run"))
    bars = {(r.get("data-path"), r.get("data-part")): float(r.get("height", 0))
            for r in root.iterfind("s:rect[@class='cpu']", NS)}  # fmt: skip
    assert len(bars) == 8
    assert abs(bars["/v1/page-views", "event loop"] / bars["/v1/floor", "event loop"] - 1.5) < 0.01
    assert abs(bars["/v1/page-views", "Redis"] / bars["/v1/floor", "Redis"] - 2.0) < 0.01
    texts = [t.text for t in root.iterfind("s:text", NS)]
    assert "1100" in texts
    assert "760" in texts
    without = ET.fromstring(svg(_runs(cpu=False), "a run"))
    assert without.find("s:rect[@class='cpu']", NS) is None
    assert float(without.get("width", 0)) < float(root.get("width", 0))
