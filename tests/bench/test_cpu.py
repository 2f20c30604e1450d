from __future__ import annotations

import os
import threading
import time

from bench.cpu import CpuMeter, per_request, spent, table
from bench.suite import cpu_meter
from service.storage.server import RedisServer, free_port


def _burn(seconds: float) -> None:
    deadline = time.thread_time() + seconds
    while time.thread_time() < deadline:
        pass


def test_the_meter_tells_the_main_thread_from_the_others_and_reads_redis(
    redis_server: RedisServer,
) -> None:
    meter = CpuMeter(os.getpid(), redis_server.pid)
    before = meter.read()
    _burn(0.2)
    worker = threading.Thread(target=_burn, args=(0.3,))
    worker.start()
    worker.join()
    used = spent(before, meter.read())
    assert set(used) == {"event loop", "Granian", "other threads", "Redis"}
    # /proc counts in clock ticks (10 ms): each share is known to a tick or two.
    assert 0.15 <= used["event loop"] <= 0.4, used
    assert 0.25 <= used["other threads"] <= 0.5, used
    assert used["Granian"] == 0.0
    assert 0.0 <= used["Redis"] < 0.1, used


def test_per_request_figures_and_the_table_add_up() -> None:
    page_views = per_request(
        [{"event loop": 0.6, "Redis": 0.1}, {"event loop": 0.4, "Redis": 0.1}], 1000
    )
    assert page_views == {"event loop": 1000.0, "Redis": 200.0, "total": 1200.0}
    floor = per_request([{"event loop": 0.7, "Redis": 0.05}], 1000)
    lines = table({"/pv": page_views, "/floor": floor}, "/pv", "/floor")
    assert lines[0] == "| µs of CPU per request | event loop | Redis | total |"
    assert "| /pv | 1000 | 200 | 1200 |" in lines
    assert "| page view's own work | +300 | +150 | +450 |" in lines
    assert lines[-1] == "CPU per request, floor / page view: **0.62**"


def test_no_meter_without_a_server_on_this_machine() -> None:
    assert cpu_meter(f"http://127.0.0.1:{free_port()}", None) is None
