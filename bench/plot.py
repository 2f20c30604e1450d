"""The benchmark as a picture: latency against offered load, and CPU per request by part.

Plain SVG written here, so the service needs no plotting library to draw its own figures.
"""

from __future__ import annotations

import math
from typing import Any
from xml.sax.saxutils import escape

from bench.cpu import PARTS
from bench.load import FLOOR, PAGE_VIEWS, saturation_cpu

COLOURS = {PAGE_VIEWS: "#d9480f", FLOOR: "#1c7ed6"}
PART_COLOURS = dict(zip(PARTS, ("#364fc7", "#2b8a3e", "#adb5bd", "#c92a2a"), strict=True))
GOAL_P99_MS = 10.0
# Latency panel: plot area inside a 520 x 320 panel.
LEFT, TOP, WIDTH, HEIGHT = 60, 40, 420, 230
# CPU panel, to the right of it.
CPU_LEFT, CPU_WIDTH = 600, 200


def _text(x: float, y: float, words: str, anchor: str = "middle", size: int = 11) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">'
        f"{escape(words)}</text>"
    )


def _latency_panel(runs: list[dict[str, Any]]) -> list[str]:
    columns = [*sorted({r["rate"] for r in runs if r["rate"] != "saturation"}), "saturation"]
    highest = max(max(r["p99_ms"] for r in runs), GOAL_P99_MS * 10)
    top = 10 ** math.ceil(math.log10(highest))

    def x(column: Any) -> float:
        return LEFT + WIDTH * (columns.index(column) + 0.5) / len(columns)

    def y(ms: float) -> float:
        return TOP + HEIGHT * (1 - math.log10(max(ms, 0.1) / 0.1) / math.log10(top / 0.1))

    out = [_text(LEFT + WIDTH / 2, 20, "latency by offered load (ms, log scale)", size=13)]
    decade = 0.1
    while decade <= top:
        out.append(f'<line x1="{LEFT}" x2="{LEFT + WIDTH}" y1="{y(decade):.1f}" '
                   f'y2="{y(decade):.1f}" stroke="#e9ecef"/>')  # fmt: skip
        out.append(_text(LEFT - 6, y(decade) + 4, f"{decade:g}", anchor="end"))
        decade *= 10
    out.append(f'<line class="goal" x1="{LEFT}" x2="{LEFT + WIDTH}" y1="{y(GOAL_P99_MS):.1f}" '
               f'y2="{y(GOAL_P99_MS):.1f}" stroke="#495057" stroke-dasharray="2 3"/>')  # fmt: skip
    out.append(_text(LEFT + WIDTH - 4, y(GOAL_P99_MS) - 4, "goal: p99 10 ms", anchor="end"))
    for column in columns:
        label = "saturation" if column == "saturation" else f"{column:g}/s"
        out.append(_text(x(column), TOP + HEIGHT + 18, label))
    for path, colour in COLOURS.items():
        mine = {r["rate"]: r for r in runs if r["path"] == path}
        for stat, dash in (("p50_ms", "4 3"), ("p99_ms", "")):
            points = " ".join(f"{x(c):.1f},{y(mine[c][stat]):.1f}" for c in columns if c in mine)
            out.append(f'<polyline class="{stat}" data-path="{path}" points="{points}" '
                       f'fill="none" stroke="{colour}" stroke-width="2" '
                       f'stroke-dasharray="{dash}"/>')  # fmt: skip
    for i, (path, colour) in enumerate(COLOURS.items()):
        legend = TOP + HEIGHT + 40 + i * 16
        out.append(f'<rect x="{LEFT}" y="{legend - 6}" width="14" height="3" fill="{colour}"/>')
        out.append(_text(LEFT + 20, legend, f"{path}: p99 solid, p50 dashed", anchor="start"))
    return out


def _cpu_panel(cpu: dict[str, dict[str, float]]) -> list[str]:
    tallest = max(parts["total"] for parts in cpu.values())
    scale = HEIGHT / tallest
    out = [_text(CPU_LEFT + CPU_WIDTH / 2, 20, "CPU per request at saturation (µs)", size=13)]
    for i, path in enumerate((PAGE_VIEWS, FLOOR)):
        left, base = CPU_LEFT + 20 + i * 90, float(TOP + HEIGHT)
        for part in PARTS:
            height = cpu[path].get(part, 0.0) * scale
            if height <= 0:
                continue
            base -= height
            out.append(f'<rect class="cpu" data-path="{path}" data-part="{part}" x="{left}" '
                       f'y="{base:.1f}" width="60" height="{height:.2f}" '
                       f'fill="{PART_COLOURS[part]}"/>')  # fmt: skip
        out.append(_text(left + 30, base - 6, f"{cpu[path]['total']:.0f}"))
        out.append(_text(left + 30, TOP + HEIGHT + 18, path.rsplit("/", 1)[1]))
    for i, part in enumerate(PARTS):
        y = TOP + HEIGHT + 36 + i * 14
        out.append(f'<rect x="{CPU_LEFT + 20}" y="{y - 9}" width="10" height="10" '
                   f'fill="{PART_COLOURS[part]}"/>')  # fmt: skip
        out.append(_text(CPU_LEFT + 36, y, part, anchor="start"))
    return out


def svg(runs: list[dict[str, Any]], title: str) -> str:
    """Both panels; the CPU one only when the run measured CPU."""
    cpu = saturation_cpu(runs)
    body = _latency_panel(runs) + (_cpu_panel(cpu) if len(cpu) == 2 else [])
    width = CPU_LEFT + CPU_WIDTH + 20 if len(cpu) == 2 else LEFT + WIDTH + 40
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="380" '
        f'font-family="sans-serif"><title>{escape(title)}</title>',
        f'<rect width="{width}" height="380" fill="white"/>',
        *body,
        _text(width / 2, 372, title, size=10),
        "</svg>",
        "",
    ])  # fmt: skip
