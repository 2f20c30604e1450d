"""A local Redis Cluster for the tests: three loopback redis-servers, primaries only."""

from __future__ import annotations

import logging
import subprocess
import time

import redis

from service.storage.server import RedisServer, Started, free_port, which

log = logging.getLogger(__name__)


class LocalCluster(Started):
    """A Redis Cluster of loopback redis-servers, primaries only, without persistence.

    It stops and starts like one server: the nodes keep their ids and slots across a restart
    (their cluster config files survive), but not their data.
    """

    def __init__(self, primaries: int = 3) -> None:
        self.nodes = [
            # The cluster bus gets its own free port: port + 10000, the default, may be taken.
            RedisServer(options=["--cluster-enabled", "yes", "--cluster-config-file",
                                 "nodes.conf", "--cluster-port", str(free_port())])
            for _ in range(primaries)
        ]  # fmt: skip
        self._created = False

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def url(self) -> str:
        """Any node serves as the way in; the first will do."""
        return self.nodes[0].url

    def start(self, timeout_s: float = 30.0) -> str:
        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            node.start()
        if not self._created:
            self._create(timeout_s)
        for node in self.nodes:
            self._wait_ok(node, deadline)
        log.info("local redis cluster on ports %s", self.ports)
        return self.url

    def _create(self, timeout_s: float) -> None:
        command = [
            which("redis-cli"), "--cluster", "create",
            *(f"127.0.0.1:{port}" for port in self.ports),
            "--cluster-replicas", "0", "--cluster-yes",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout}{done.stderr}")
        self._created = True

    @staticmethod
    def _wait_ok(node: RedisServer, deadline: float) -> None:
        client = redis.Redis(port=node.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            while client.cluster("INFO").get("cluster_state") != "ok":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis cluster not ok on port {node.port}")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def close(self) -> None:
        for node in self.nodes:
            node.close()
