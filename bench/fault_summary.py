"""A fault report as people read it: one table of figures and one picture per scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROWS = (
    ("requests", "requests"),
    ("server_errors", "answers ≥ 500"),
    ("unanswered", "not answered (service stopped)"),
    ("degraded_page_views", "degraded page views"),
    ("acknowledged", "events answered 202"),
    ("found", "of them in Redis afterwards"),
    ("stored_twice", "stored twice"),
    ("counted_twice", "counted twice in profiles"),
    ("page_views_over_deadline", "page views slower than the deadline"),
    ("recovery_s", "degraded after Redis was back (s)"),
    ("readiness_changes", "/readyz changes"),
)


def _latency(figures: dict[str, Any], key: str) -> str:
    stats = figures[key]
    if not stats.get("n"):
        return "-"
    return f"{stats['p50_ms']:.1f} / {stats['p99_ms']:.1f} / {stats['max']:.1f}"


def table(report: dict[str, Any]) -> list[str]:
    names = list(report["scenarios"])
    lines = [f"| | {' | '.join(names)} |", f"|---|{'---|' * len(names)}"]
    for key, label in ROWS:
        cells = [str(report["scenarios"][n].get(key, "-")) for n in names]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    for key, label in (("page_view_ms", "page view p50 / p99 / max (ms)"),
                       ("page_view_ms_during_fault", "… during the fault")):  # fmt: skip
        cells = [_latency(report["scenarios"][n], key) for n in names]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    return lines


def draw(report: dict[str, Any], stem: Path) -> list[Path]:
    """Page-view p99 and max latency and the share degraded over each run, actions marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    scenarios = report["scenarios"]
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "witryna"}):
        figure, grid = pyplot.subplots(
            len(scenarios), 1, figsize=(8, 2.4 * len(scenarios)), squeeze=False
        )
        for (name, figures), (axes,) in zip(scenarios.items(), grid, strict=True):
            rows = figures["timeline"]
            at = [r[0] for r in rows]
            axes.plot(at, [r[1] for r in rows], color="#d9480f", label="p99 ms")
            axes.plot(at, [r[2] for r in rows], color="#adb5bd", lw=0.8, label="max ms")
            axes.axhline(report["deadline_ms"], color="#1c7ed6", ls=":", label="deadline")
            axes.set_yscale("log")
            twin = axes.twinx()
            twin.fill_between(at, [r[3] for r in rows], color="#2b8a3e", alpha=0.2, step="post")
            twin.set_ylim(0, 1)
            twin.set_ylabel("degraded share", fontsize=7)
            for when, until, action in figures["actions"]:
                axes.axvspan(when, max(until, when + 0.05), color="black", alpha=0.08)
                axes.axvline(when, color="black", lw=0.6)
                axes.annotate(action, (when, 1), xycoords=("data", "axes fraction"),
                              fontsize=7, rotation=90, va="top", ha="right")  # fmt: skip
            axes.set_title(f"{name}: page views at {report['rate']:g} requests/s", fontsize=9)
            axes.set_xlabel("seconds", fontsize=7)
            axes.legend(fontsize=7, loc="upper left")
        figure.tight_layout()
        written = [stem.with_suffix(".svg"), stem.with_suffix(".png")]
        figure.savefig(written[0], metadata={"Date": None})
        figure.savefig(written[1], dpi=100)
        pyplot.close(figure)
    return written


def write(report: dict[str, Any], out: Path) -> str:
    lines = [
        f"# Faults under load, {report['when']}",
        "",
        f"{report['rate']:g} requests/s, half page views and half one-event batches over 1,000 "
        f"visitors, one worker, loopback; deadline {report['deadline_ms']} ms. Every event "
        "answered 202 is looked for in Redis afterwards.",
        "",
        *table(report),
        "",
        "![page-view latency and degraded share over each run](faults.svg)",
        "",
    ]
    text = "\n".join(lines)
    (out / "faults.md").write_text(text)
    draw(report, out / "faults")
    return text
