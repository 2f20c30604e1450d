"""CPU per request, from psutil: which threads of the worker, and Redis, pay for it.

Throughput says how much a request costs in all; this says where. A page view and the
floor share the HTTP layer, the model and Redis's core, so the difference between their
costs, thread by thread, is the page view's own work.
"""

from __future__ import annotations

from pathlib import Path

import psutil

# Granian's I/O runs on Rust threads of this name; the event loop is the process's own.
GRANIAN_THREADS = "tokio"
PARTS = ("event loop", "Granian", "other threads", "Redis")


def thread_name(pid: int, tid: int) -> str:
    """The kernel's name of a thread, or "" once it has ended.

    psutil gives threads' times but not their names, so this one file of ``/proc`` is
    still read by hand.
    """
    try:
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:
        return ""


class CpuMeter:
    """CPU seconds used so far by the server worker's threads and by Redis, if known."""

    def __init__(self, worker: int, redis: int | None) -> None:
        self.worker = psutil.Process(worker)
        self.redis = psutil.Process(redis) if redis is not None else None

    def read(self) -> dict[str, float]:
        loop = granian = 0.0
        for thread in self.worker.threads():
            seconds = thread.user_time + thread.system_time
            if thread.id == self.worker.pid:
                loop = seconds
            elif thread_name(self.worker.pid, thread.id).startswith(GRANIAN_THREADS):
                granian += seconds
        # The process's own count keeps the time of threads that have ended.
        whole = self.worker.cpu_times()
        used = {
            "event loop": loop,
            "Granian": granian,
            "other threads": whole.user + whole.system - loop - granian,
        }
        if self.redis is not None:
            spent_by_redis = self.redis.cpu_times()
            used["Redis"] = spent_by_redis.user + spent_by_redis.system
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
