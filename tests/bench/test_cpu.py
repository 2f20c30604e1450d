from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import time

import psutil

from bench.cpu import GRANIAN_THREADS, CpuMeter, per_request, spent, table, thread_name
from bench.profile import server_pid, worker_pid, worker_pids
from bench.stack import cpu_meter
from service.storage.server import RedisServer, free_port

PR_SET_NAME = 15


def _burn(seconds: float) -> None:
    deadline = time.thread_time() + seconds
    while time.thread_time() < deadline:
        pass


def _burn_as(name: str, seconds: float, names: list[str], done: threading.Barrier) -> None:
    """Burn under a kernel thread name, as Granian's Rust threads have theirs, then stay
    alive until read: only a live thread is told apart by its name."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, name.encode(), 0, 0, 0)
    names.append(thread_name(os.getpid(), threading.get_native_id()))
    _burn(seconds)
    done.wait()
    done.wait()


def test_the_meter_tells_the_main_thread_from_the_others_and_reads_redis(
    redis_server: RedisServer,
) -> None:
    meter = CpuMeter(os.getpid(), redis_server.pid)
    before = meter.read()
    _burn(0.2)
    worker = threading.Thread(target=_burn, args=(0.3,))
    worker.start()
    worker.join()
    names: list[str] = []
    done = threading.Barrier(2)
    granian = threading.Thread(target=_burn_as, args=(f"{GRANIAN_THREADS}-w", 0.25, names, done))
    granian.start()
    done.wait()
    used = spent(before, meter.read())
    done.wait()
    granian.join()
    assert names == [f"{GRANIAN_THREADS}-w"]
    assert set(used) == {"event loop", "Granian", "other threads", "Redis"}
    # The kernel counts in clock ticks (10 ms): each share is known to a tick or two.
    assert 0.15 <= used["event loop"] <= 0.4, used
    assert 0.25 <= used["other threads"] <= 0.5, used
    assert 0.2 <= used["Granian"] <= 0.35, used
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


def test_the_server_and_its_python_workers_are_found_by_the_servers_command_line() -> None:
    port = free_port()
    child = "import time; time.sleep(60)"
    parent = (
        f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); "
        "time.sleep(60)"
    )
    server = subprocess.Popen([sys.executable, "-c", parent, "serve", "--port", str(port)])
    try:
        deadline = time.monotonic() + 10
        while not worker_pids(server.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server_pid(port) == server.pid
        (worker,) = worker_pids(server.pid)
        assert worker != server.pid
        assert worker_pid(server.pid) == worker
        assert server_pid(free_port()) is None
    finally:
        for process in psutil.Process(server.pid).children():
            process.kill()
        server.kill()
        server.wait()
