"""Slow clients cannot hold the server: 1,200 connections that drip their headers a byte a
second for 20 s, while a normal shopper's page views are still answered within 100 ms.

The attack runs in a child process on loopback; every socket and process is gone at the end.
"""

from __future__ import annotations

import http.client
import json
import select
import subprocess
import sys
import time

import pytest

from service.storage.server import RedisServer
from tests._support.stack import ROOT, SITE_KEY, Service

pytestmark = [pytest.mark.slow, pytest.mark.serial]

CONNECTIONS = 1200
ATTACK_S = 20.0
# Well inside the attack: it outlasts the server's header read timeout several times over.
MEASURE_S = 14.0
PAGE_VIEW = json.dumps({"visitor_id": "v-patient", "page": {"type": "home"}}).encode()


def page_view_ms(port: int) -> float:
    """One page view on a connection of its own, as a new visitor's browser makes it."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=ATTACK_S)
    try:
        headers = {"content-type": "application/json"}
        path = f"/v1/page-views?key={SITE_KEY}"
        connection.request("POST", path, body=PAGE_VIEW, headers=headers)
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
    finally:
        connection.close()
    return (time.perf_counter() - started) * 1000


def test_a_thousand_slow_connections_do_not_hold_up_a_normal_visitor(
    redis_server: RedisServer,
) -> None:
    with Service(redis_server.url) as service:
        page_view_ms(service.port)  # the first run of the model is not the attack's doing
        command = [sys.executable, "-m", "tests._support.slowloris"]
        args = [str(service.port), str(CONNECTIONS), str(ATTACK_S)]
        attacker = subprocess.Popen(command + args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            assert attacker.stdout is not None
            assert select.select([attacker.stdout], [], [], 10)[0], "the attacker connected"
            assert attacker.stdout.readline().strip() == "ready"
            latencies = []
            end = time.monotonic() + MEASURE_S
            while time.monotonic() < end:
                latencies.append(page_view_ms(service.port))
                time.sleep(0.1)
            still_attacking = attacker.poll() is None
        finally:
            attacker.terminate()
            report = attacker.communicate(timeout=10)[0]
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95)]
    print(
        f"{len(latencies)} page views under attack: p50 {latencies[len(latencies) // 2]:.1f}"
        f" ms, p95 {p95:.1f} ms, max {latencies[-1]:.1f} ms; attacker: {report.strip()!r}"
    )
    assert still_attacking, "the attack lasted the whole measurement"
    assert len(latencies) >= MEASURE_S * 5, "the normal visitor kept being answered"
    assert p95 < 50, latencies
    assert latencies[-1] < 100, latencies
