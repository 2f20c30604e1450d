"""Whether Redis keeps its keys, read from real redis-servers set up each way, and what the
service says of it; the data dir the service's own state goes in."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

import httpx
import pytest

from service.errors import ConfigError
from service.storage.client import connect
from service.storage.persistence import prepare_data_dir, read_persistence
from service.storage.server import RedisServer, free_port
from tests._support.cluster import LocalCluster
from tests._support.stack import SECRET, Service

WARNING = "redis keeps nothing on disk"
Fsync = Literal["everysec", "always", "no"]


def persistence_of(url: str, cluster: bool = False) -> str:
    async def read() -> str:
        client = connect(url, timeout_ms=2000, cluster=cluster)
        try:
            if cluster:
                # A cluster client learns its nodes on its first command.
                await client.ping()
            return await read_persistence(client)
        finally:
            await client.aclose()

    return asyncio.run(read())


@pytest.mark.parametrize(
    ("options", "aof", "expected"),
    [
        ([], None, "off"),
        (["--save", "60 1"], None, "rdb"),
        ([], "everysec", "aof everysec"),
        ([], "always", "aof always"),
        (["--save", "60 1"], "no", "aof no"),
        # As a managed Redis that does not let clients read its configuration.
        (["--rename-command", "CONFIG", ""], None, "unknown"),
    ],
    ids=["nothing", "snapshots", "aof-everysec", "aof-always", "aof-no", "config-refused"],
)
def test_persistence_is_read_from_the_servers_configuration(
    tmp_path: Path, options: list[str], aof: Fsync | None, expected: str
) -> None:
    data_dir = None if aof is None else tmp_path
    with RedisServer(options=options, data_dir=data_dir, appendfsync=aof or "no") as server:
        assert persistence_of(server.url) == expected


def test_a_cluster_answers_for_its_primaries(redis_cluster: LocalCluster) -> None:
    assert persistence_of(redis_cluster.url, cluster=True) == "off"


def test_a_redis_that_does_not_answer_is_unknown() -> None:
    assert persistence_of(f"redis://127.0.0.1:{free_port()}/0") == "unknown"


def test_a_service_on_a_redis_without_persistence_warns_and_says_so_to_the_operator(
    tmp_path: Path,
) -> None:
    log = tmp_path / "service.log"
    with (
        RedisServer() as server,
        Service(server.url, log=log) as service,
        httpx.Client(base_url=service.url) as http,
    ):
        operator = http.get("/readyz", headers=SECRET).json()
        anyone = http.get("/readyz").json()
    assert operator["persistence"] == "off"
    assert anyone == {"status": "ready"}, "callers without the secret key learn nothing more"
    assert log.read_text().count(WARNING) == 1


def test_the_data_dir_is_made_and_one_that_cannot_be_is_named(tmp_path: Path) -> None:
    made = prepare_data_dir(str(tmp_path / "a" / "b"))
    assert made.is_dir()
    assert list(made.iterdir()) == [], "the proof that it is writable leaves nothing behind"
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"WITRYNA_DATA_DIR=.*cannot be created or written"):
        prepare_data_dir(str(tmp_path / "file" / "data"))
