"""docker-compose.yml, checked without a Docker engine: valid against the Compose
Specification's JSON Schema (vendored in compose_spec/, see its SOURCE), and each part doing
what it says with the real programs: the service's environment read by Settings, its health
check run against a real service, Redis started with the file's own command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis
import yaml

from service.cli.keys import generate
from service.settings import Settings
from service.storage.server import free_port
from tests._support.stack import ROOT, Service, wait_for
from tests.deploy.chart import CHART

COMPOSE = ROOT / "docker-compose.yml"
SPEC = Path(__file__).parent / "compose_spec" / "compose-spec.json"
DOCKERFILE = ROOT / "Dockerfile"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SPEC.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def image_env() -> dict[str, str]:
    """The WITRYNA_* variables the Dockerfile's runtime stage sets."""
    final = DOCKERFILE.read_text().rsplit("\nFROM ", 1)[1]
    block = re.search(r"^ENV (.*?)(?=^\S)", final, flags=re.MULTILINE | re.DOTALL)
    assert block is not None
    pairs = re.findall(r"(WITRYNA_\w+)=(\S+)", block[1])
    return {name: value.rstrip("\\").strip() for name, value in pairs}


def test_the_file_is_valid_against_the_compose_specification() -> None:
    errors = [f"{list(e.path)}: {e.message}" for e in validator().iter_errors(compose())]
    assert errors == []


def test_the_specification_refuses_a_misspelt_key() -> None:
    # Worth something only if a typo fails: services admit no property they do not define.
    broken = compose()
    broken["services"]["redis"]["helthcheck"] = broken["services"]["redis"].pop("healthcheck")
    assert not validator().is_valid(broken)


def test_the_service_is_the_image_pointed_at_the_redis_beside_it() -> None:
    services = compose()["services"]
    witryna, store = services["witryna"], services["redis"]
    assert (ROOT / witryna["build"]["context"] / "Dockerfile").exists()
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    variant = witryna["build"]["args"]["VARIANT"]
    assert witryna["image"] == f"witryna:{chart['appVersion']}-{variant}"
    assert witryna["depends_on"] == {"redis": {"condition": "service_healthy"}}
    env = {**image_env(), **generate(), **witryna["environment"]}
    settings = Settings.from_env(env)
    assert settings.redis_url == "redis://redis:6379/0"
    assert "redis" in services
    assert store["image"] == "redis:7.4.2-alpine", "the chart's Redis"
    (published,) = witryna["ports"]
    assert published == f"127.0.0.1:{settings.port}:{settings.port}"
    (keys,) = witryna["env_file"]
    assert keys == {"path": "build/keys.env", "required": True}, "where `witryna keys` writes"


def test_redis_keeps_its_append_only_file_on_a_named_volume() -> None:
    spec = compose()
    store = spec["services"]["redis"]
    command = store["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    data = command[command.index("--dir") + 1]
    (volume,) = store["volumes"]
    name, target = volume.split(":")
    assert target == data
    assert name in spec["volumes"], "a named volume, kept across `docker compose down`"
    witryna_volume = spec["services"]["witryna"]["volumes"][0]
    assert witryna_volume.split(":")[1] == image_env()["WITRYNA_DATA_DIR"]


@pytest.fixture
def compose_redis(tmp_path: Path) -> Iterator[redis.Redis]:
    """redis-server run with the compose file's own command, its folder here."""
    command = compose()["services"]["redis"]["command"]
    command[command.index("--dir") + 1] = str(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


def test_redis_runs_with_the_files_command_and_its_health_check_passes(
    compose_redis: redis.Redis,
) -> None:
    config = compose_redis.config_get("*")
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    assert config["save"] == ""
    assert config["maxmemory-policy"] == "volatile-lru"
    test = compose()["services"]["redis"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    port = compose_redis.connection_pool.connection_kwargs["port"]
    # The options go before the command: redis-cli -p PORT ping.
    check = subprocess.run(
        [test[1], "-p", str(port), *test[2:]], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0
    assert check.stdout.strip() == "PONG"


def health_check(port: int) -> subprocess.CompletedProcess[str]:
    """The witryna service's health check as the container runs it, at ``port``."""
    test = compose()["services"]["witryna"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python3", "-c"]
    code = test[3].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=10, check=False
    )


def test_the_service_health_check_follows_readiness(compose_redis: redis.Redis) -> None:
    """The stack without Docker: the service on the compose file's Redis is healthy, and
    turns unhealthy when that Redis goes, where the image's own /healthz check would not."""
    assert health_check(free_port()).returncode != 0, "nothing listening: unhealthy"
    port = compose_redis.connection_pool.connection_kwargs["port"]
    with Service(f"redis://127.0.0.1:{port}/0") as running:
        assert health_check(running.port).returncode == 0
        compose_redis.shutdown(nosave=True)
        wait_for(lambda: health_check(running.port).returncode != 0)
        assert health_check(running.port).returncode != 0
