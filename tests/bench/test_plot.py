from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from bench.cpu import PARTS
from bench.load import FLOOR, PAGE_VIEWS, summarise
from bench.plot import BAR_ID, CPU_TITLE, LATENCY_TITLE, LINE_ID, draw

SVG = "{http://www.w3.org/2000/svg}"


def _slice(p50: float, p99: float, cpu_s: dict[str, float] | None) -> dict[str, Any]:
    """One slice as `bench.loadgen` prints it: 100 latencies over one second."""
    latencies = [p50] * 50 + [p50 + (p99 - p50) * i / 49 for i in range(49)] + [p99 * 1.5]
    raw = {"seconds": 1.0, "sent": 100, "errors": 0, "degraded": 0, "latencies_ms": latencies}
    return raw | ({"cpu_s": cpu_s} if cpu_s else {})


def _runs(cpu: bool) -> list[dict[str, Any]]:
    """Fixed rates and saturation, summarised as `bench.load` summarises the generator's."""
    pv_cpu = {"event loop": 0.09, "Granian": 0.01, "other threads": 0.002, "Redis": 0.008}
    floor_cpu = {"event loop": 0.06, "Granian": 0.01, "other threads": 0.002, "Redis": 0.004}
    return [
        summarise(PAGE_VIEWS, 250.0, [_slice(3.0, 5.0, None)]),
        summarise(FLOOR, 250.0, [_slice(2.0, 4.0, None)]),
        summarise(PAGE_VIEWS, 1000.0, [_slice(900.0, 2000.0, None)]),
        summarise(FLOOR, 1000.0, [_slice(20.0, 120.0, None)]),
        summarise(PAGE_VIEWS, 0.0, [_slice(130.0, 230.0, pv_cpu if cpu else None)] * 2),
        summarise(FLOOR, 0.0, [_slice(100.0, 140.0, floor_cpu if cpu else None)] * 2),
    ]


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _ids(root: ET.Element) -> set[str]:
    return {g.get("id", "") for g in root.iter(f"{SVG}g")}


def test_the_plot_draws_each_latency_line_and_each_cpu_part_of_a_run(tmp_path: Path) -> None:
    runs = _runs(cpu=True)
    svg, png = draw(runs, "a run on this machine", tmp_path / "bench-x")
    assert (svg.name, png.name) == ("bench-x.svg", "bench-x.png")
    root = ET.parse(svg).getroot()
    ids = _ids(root)
    lines = {
        LINE_ID.format(stat=s, path=p) for s in ("p50_ms", "p99_ms") for p in (PAGE_VIEWS, FLOOR)
    }
    bars = {BAR_ID.format(part=part, path=p) for part in PARTS for p in (PAGE_VIEWS, FLOOR)}
    assert lines | bars | {"goal"} <= ids
    texts = {"".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")}
    assert {LATENCY_TITLE, CPU_TITLE, "a run on this machine", "goal: p99 10 ms"} <= texts
    assert {"250/s", "1000/s", "saturation", "page-views", "floor", *PARTS} <= texts
    # 0.11 s and 0.076 s of CPU in each of two slices of 100 requests: 1,100 and 760 µs.
    assert {"1100", "760"} <= texts
    width, height = _png_size(png)
    assert width > height > 0


def test_without_cpu_figures_the_plot_has_the_latency_panel_alone(tmp_path: Path) -> None:
    svg, png = draw(_runs(cpu=False), "a run", tmp_path / "bench-y")
    root = ET.parse(svg).getroot()
    assert not any(i.startswith("cpu ") for i in _ids(root))
    texts = {"".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")}
    assert LATENCY_TITLE in texts
    assert CPU_TITLE not in texts
    with_cpu = draw(_runs(cpu=True), "a run", tmp_path / "bench-z")[1]
    assert _png_size(png)[0] < _png_size(with_cpu)[0]
