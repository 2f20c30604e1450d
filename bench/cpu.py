"""CPU per request, from ``/proc``: which threads of the worker, and Redis, pay for it.

Throughput says how much a request costs in all; this says where. A page view and the
floor share the HTTP layer, the model and Redis's core, so the difference between their
costs, thread by thread, is the page view's own work.
"""

from __future__ import annotations

import os
from pathlib import Path

# Granian's I/O runs on Rust threads of this name; the event loop is the process's own.
GRANIAN_THREADS = "tokio"
PARTS = ("event loop", "Granian", "other threads", "Redis")


def _seconds(stat: str) -> float:
    fields = stat.rsplit(")", 1)[1].split()
    # utime and stime, the 14th and 15th fields of stat(5), counted from after the name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used so far by the server worker's threads and by Redis, if known."""

    def __init__(self, worker: int, redis: int | None) -> None:
        self.worker = worker
        self.redis = redis

    def read(self) -> dict[str, float]:
        loop = granian = 0.0
        for task in Path(f"/proc/{self.worker}/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:  # a thread that ended meanwhile
                continue
            if task.name == str(self.worker):
                loop = _seconds(stat)
            elif stat.split("(", 1)[1].startswith(GRANIAN_THREADS):
                granian += _seconds(stat)
        # The process's own count keeps the time of threads that have ended.
        whole = _seconds(Path(f"/proc/{self.worker}/stat").read_text())
        used = {"event loop": loop, "Granian": granian, "other threads": whole - loop - granian}
        if self.redis is not None:
            used["Redis"] = _seconds(Path(f"/proc/{self.redis}/stat").read_text())
        return used


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {part: after[part] - before[part] for part in before}


def per_request(spends: list[dict[str, float]], requests: int) -> dict[str, float]:
    """Microseconds per request by part, summed over slices, with their total."""
    parts = {part: 1e6 * sum(s[part] for s in spends) / max(requests, 1) for part in spends[0]}
    return {**parts, "total": sum(parts.values())}


def table(by_path: dict[str, dict[str, float]], page_views: str, floor: str) -> list[str]:
    """Per-request CPU of both endpoints at saturation, and the page view's extra."""
    parts = [p for p in (*PARTS, "total") if p in by_path[page_views]]
    extra = {p: by_path[page_views][p] - by_path[floor][p] for p in parts}
    lines = [
        "| µs of CPU per request | " + " | ".join(parts) + " |",
        "|---" * (len(parts) + 1) + "|",
        *(
            f"| {path} | " + " | ".join(f"{by_path[path][p]:.0f}" for p in parts) + " |"
            for path in (page_views, floor)
        ),
        "| page view's own work | " + " | ".join(f"{extra[p]:+.0f}" for p in parts) + " |",
    ]
    ratio = by_path[floor]["total"] / by_path[page_views]["total"]
    return [*lines, "", f"CPU per request, floor / page view: **{ratio:.2f}**"]
