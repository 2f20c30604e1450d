"""The benchmark as a picture: latency against offered load, and CPU per request by part.

Drawn with matplotlib, imported only when a plot is drawn, so that the command line (and
``import bench.cli``) stays quick to start.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.auth import LABELS, NO_AUTH, SITE_KEY
from bench.cpu import PARTS
from bench.load import FLOOR, PAGE_VIEWS, saturation_cpu

if TYPE_CHECKING:
    from matplotlib.axes import Axes

COLOURS = {PAGE_VIEWS: "#d9480f", FLOOR: "#1c7ed6"}
PART_COLOURS = dict(zip(PARTS, ("#364fc7", "#2b8a3e", "#adb5bd", "#c92a2a"), strict=True))
GOAL_P99_MS = 10.0
LATENCY_TITLE = "latency by offered load (ms, log scale)"
CPU_TITLE = "CPU per request at saturation (µs)"
# Each artist gets an id, which the SVG keeps (``<g id=...>``): what a reader, or a test,
# looks the series up by.
LINE_ID = "latency {stat} {path}"
BAR_ID = "cpu {part} {path}"
AUTH_COLOURS = {SITE_KEY: COLOURS[PAGE_VIEWS], NO_AUTH: "#868e96"}
AUTH_BAR_ID = "auth {stat} {side}"
AUTH_TITLES = ("page-view latency at {rate:g}/s (ms)", "saturation (page views/s)")


def _columns(runs: list[dict[str, Any]]) -> list[Any]:
    return [*sorted({r["rate"] for r in runs if r["rate"] != "saturation"}), "saturation"]


def _latency_panel(axes: Axes, runs: list[dict[str, Any]]) -> None:
    columns = _columns(runs)
    for path, colour in COLOURS.items():
        mine = {r["rate"]: r for r in runs if r["path"] == path}
        drawn = [c for c in columns if c in mine]
        for stat, style in (("p99_ms", "-"), ("p50_ms", "--")):
            (line,) = axes.plot(
                [columns.index(c) for c in drawn], [mine[c][stat] for c in drawn],
                linestyle=style, color=colour, linewidth=2, marker="o", markersize=3,
                label=f"{path} {stat[:3]}",
            )  # fmt: skip
            line.set_gid(LINE_ID.format(stat=stat, path=path))
    goal = axes.axhline(GOAL_P99_MS, color="#495057", linestyle=":", linewidth=1)
    goal.set_gid("goal")
    axes.annotate(
        f"goal: p99 {GOAL_P99_MS:g} ms", (1, GOAL_P99_MS), xycoords=("axes fraction", "data"),
        xytext=(-4, 4), textcoords="offset points", ha="right", fontsize=9,
    )  # fmt: skip
    axes.set_yscale("log")
    axes.set_xticks(range(len(columns)))
    axes.set_xticklabels(["saturation" if c == "saturation" else f"{c:g}/s" for c in columns])
    axes.set_xlabel("offered load")
    axes.set_ylabel("ms")
    axes.set_title(LATENCY_TITLE)
    axes.grid(axis="y", which="major", color="#e9ecef")
    axes.legend(fontsize=8, title="p99 solid, p50 dashed", title_fontsize=8)


def _cpu_panel(axes: Axes, cpu: dict[str, dict[str, float]]) -> None:
    paths = (PAGE_VIEWS, FLOOR)
    base = [0.0] * len(paths)
    # Redis is left out when the bench did not start it (`--url`): its CPU is not known.
    for part in (p for p in PARTS if p in cpu[PAGE_VIEWS]):
        heights = [cpu[path][part] for path in paths]
        bars = axes.bar(range(len(paths)), heights, bottom=base, width=0.6,
                        color=PART_COLOURS[part], label=part)  # fmt: skip
        for rectangle, path in zip(bars, paths, strict=True):
            rectangle.set_gid(BAR_ID.format(part=part, path=path))
        base = [b + h for b, h in zip(base, heights, strict=True)]
    for i, path in enumerate(paths):
        axes.annotate(f"{cpu[path]['total']:.0f}", (i, base[i]), xytext=(0, 3),
                      textcoords="offset points", ha="center", fontsize=9)  # fmt: skip
    axes.set_xticks(range(len(paths)))
    axes.set_xticklabels([path.rsplit("/", 1)[1] for path in paths])
    axes.set_ylabel("µs")
    axes.set_title(CPU_TITLE)
    axes.legend(fontsize=8)


def _auth_figures(auth: dict[str, Any], stat: str) -> dict[str, tuple[float, list[float]]]:
    """Each side's figure for ``stat`` (a latency percentile or throughput), and each round's."""
    found = {}
    for side, figures in auth["sides"].items():
        if stat == "throughput":
            found[side] = (figures["saturation"][stat], figures["saturation"]["slices"])
        else:
            found[side] = (figures["latency"][stat], [r[stat] for r in figures["latency_rounds"]])
    return found


def _auth_panel(axes: Axes, auth: dict[str, Any], stats: list[str]) -> None:
    """A pair of bars a figure, site key and no auth, each round's as dots on its bar, and
    their ratio above."""
    for i, stat in enumerate(stats):
        figures = _auth_figures(auth, stat)
        for j, side in enumerate((SITE_KEY, NO_AUTH)):
            x, (value, rounds) = i + (j - 0.5) * 0.38, figures[side]
            label = LABELS[side] if i == 0 else None
            (bar,) = axes.bar([x], [value], width=0.36, color=AUTH_COLOURS[side], label=label)
            bar.set_gid(AUTH_BAR_ID.format(stat=stat, side=side))
            axes.plot([x] * len(rounds), rounds, "o", color="#212529", markersize=3)
        ratio = figures[SITE_KEY][0] / figures[NO_AUTH][0]
        top = max(value for value, _ in figures.values())
        axes.annotate(f"{ratio:.3f}x", (i, top), xytext=(0, 6), textcoords="offset points",
                      ha="center", fontsize=9)  # fmt: skip
    axes.set_xticks(range(len(stats)))
    axes.set_xticklabels([stat.removesuffix("_ms") for stat in stats])
    axes.margins(y=0.15)


def draw_auth(auth: dict[str, Any], title: str, stem: Path) -> list[Path]:
    """``stem``.svg and ``stem``.png: page views with the site key and without auth."""
    return _save(stem, 2, [2, 1], title, lambda axes: _auth_panels(axes, auth))


def _auth_panels(axes: list[Axes], auth: dict[str, Any]) -> None:
    _auth_panel(axes[0], auth, ["p50_ms", "p99_ms"])
    _auth_panel(axes[1], auth, ["throughput"])
    for panel, heading in zip(axes, AUTH_TITLES, strict=True):
        panel.set_title(heading.format(rate=auth["rate"]))
    axes[0].legend(fontsize=8, title="dots: each round", title_fontsize=8)


def draw(runs: list[dict[str, Any]], title: str, stem: Path) -> list[Path]:
    """``stem``.svg and ``stem``.png: both panels, the CPU one only when it was measured."""
    cpu = saturation_cpu(runs)
    panels = 2 if len(cpu) == 2 else 1

    def fill(axes: list[Axes]) -> None:
        _latency_panel(axes[0], runs)
        if panels == 2:
            _cpu_panel(axes[1], cpu)

    return _save(stem, panels, [3, 2][:panels], title, fill)


def _save(
    stem: Path, panels: int, widths: list[int], title: str, fill: Callable[[list[Axes]], None]
) -> list[Path]:
    import matplotlib

    # Agg draws without a display; chosen here, not at import, so a caller's choice stands
    # until a plot is actually drawn.
    matplotlib.use("Agg")
    from matplotlib import pyplot

    # Text kept as text in the SVG, and no timestamp in it, so that a rerun of the same
    # figures writes the same file.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "witryna"}):
        figure, axes = pyplot.subplots(
            1, panels, figsize=(5.5 * panels, 4.2), squeeze=False,
            gridspec_kw={"width_ratios": widths},
        )  # fmt: skip
        fill(list(axes[0]))
        figure.suptitle(title, fontsize=9, y=0.02, va="bottom")
        figure.tight_layout(rect=(0, 0.05, 1, 1))
        written = [stem.with_suffix(".svg"), stem.with_suffix(".png")]
        figure.savefig(written[0], metadata={"Date": None})
        figure.savefig(written[1], dpi=100)
        pyplot.close(figure)
    return written
