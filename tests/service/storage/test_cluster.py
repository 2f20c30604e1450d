"""On a Redis Cluster every request of one visitor is served by the one node owning the
visitor's slot. (The whole API scenario also runs on the cluster: the ``[cluster]`` tests.)"""

from __future__ import annotations

import re
import subprocess
import sys

import httpx
import pytest
from redis.crc import key_slot

from service.errors import ConfigError
from service.settings import Settings
from service.storage.keys import aliases_key, consent_key, events_key, profile_key
from tests._support.cluster import LocalCluster
from tests._support.monitor import monitored
from tests._support.stack import ROOT, ClusterClient, RedisClient, wait_for
from tests.service.metrics.scrape import scrape

pytestmark = pytest.mark.cluster

VISITOR = "solo-1"
T0 = 1_763_900_000.0
# A key argument naming the visitor, hash tag or not; MONITOR shows arguments space-separated.
VISITOR_KEY = re.compile(rf"(?:^|\s)(w:\S*{VISITOR}\S*)")


def journey(http: httpx.Client) -> None:
    """One visitor's requests of every kind: consent, page views, events, a device linked to
    it, the profile and finally erasure."""
    assert http.put(f"/v1/visitors/{VISITOR}/consent", json={"consent": True}).status_code == 200
    for page in ({"type": "home"}, {"type": "product", "item_id": "tv-1"}, {"type": "cart"}):
        answer = http.post("/v1/page-views", json={"visitor_id": VISITOR, "page": page})
        assert answer.status_code == 200
        assert not answer.json()["degraded"]
    events = [{"visitor_id": VISITOR, "type": "purchase", "item_id": "tv-1", "ts": T0}]
    assert http.post("/v1/events", json={"events": events}).json()["buffered"] == 0
    linked = http.post("/v1/identify", json={"visitor_id": "tablet-1", "customer_id": VISITOR})
    assert linked.json()["merged_events"] == 1
    assert http.get(f"/v1/visitors/{VISITOR}/profile").json()["events"] == 5
    assert http.delete(f"/v1/visitors/{VISITOR}").json()["ids"] == ["solo-1", "tablet-1"]


@pytest.mark.parametrize("backend", ["cluster"], indirect=True)
def test_every_request_of_one_visitor_is_served_by_one_node(
    http: httpx.Client, redis_client: RedisClient, redis_cluster: LocalCluster
) -> None:
    assert isinstance(redis_client, ClusterClient)
    owner = redis_client.get_node_from_key(events_key(VISITOR)).port
    tablet = [{"visitor_id": "tablet-1", "type": "product_view", "item_id": "tv-2", "ts": T0 - 60}]
    http.post("/v1/events", json={"events": tablet})

    with monitored(redis_cluster.ports) as seen:
        journey(http)

    touched = {
        (port, key) for port, commands in seen.items() for c in commands
        for key in VISITOR_KEY.findall(c)
    }  # fmt: skip
    print(f"visitor's slot on port {owner}; keys touched: {sorted(touched)}")
    keys = {key for _, key in touched}
    assert keys >= {events_key(VISITOR), profile_key(VISITOR), consent_key(VISITOR),
                    aliases_key(VISITOR)}  # fmt: skip
    assert {key_slot(key.encode()) for key in keys} == {key_slot(VISITOR.encode())}
    assert {port for port, _ in touched} == {owner}
    others = [port for port in redis_cluster.ports if port != owner]
    assert all(seen[port] for port in others), "erasure scans every node: each log has it"


def test_cluster_is_a_setting_and_needs_a_node_to_start_from() -> None:
    assert Settings.from_env({"WITRYNA_REDIS_CLUSTER": "true"}).redis_cluster is True
    assert Settings.from_env({}).redis_cluster is False
    with pytest.raises(ConfigError, match="WITRYNA_REDIS_CLUSTER"):
        Settings.from_env({"WITRYNA_REDIS_CLUSTER": "perhaps"})
    refused = subprocess.run(
        [sys.executable, "-m", "service", "serve"],
        env={"PATH": "/usr/bin:/bin", "WITRYNA_REDIS_CLUSTER": "1"},
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "WITRYNA_REDIS_CLUSTER needs WITRYNA_REDIS_URL" in refused.stderr


@pytest.mark.parametrize("backend", ["cluster"], indirect=True)
def test_metrics_pool_and_experiment_tallies_come_through_the_cluster(http: httpx.Client) -> None:
    view = {"visitor_id": "metered-1", "page": {"type": "cart"}}
    arm = http.post("/v1/page-views", json=view).json()["experiments"]["cart-incentive"]
    url = str(http.base_url).rstrip("/")

    def exposures() -> float:
        found = scrape(url).values("witryna_experiment_exposures", experiment="cart-incentive")
        return found.get(frozenset({"experiment": "cart-incentive", "arm": arm}.items()), 0.0)

    wait_for(lambda: exposures() == 1)
    scraped = scrape(url)
    assert scraped.value("witryna_metrics_pooled") == 1
    assert exposures() == 1
