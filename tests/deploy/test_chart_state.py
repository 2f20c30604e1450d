"""Where the chart keeps state: the bundled Redis's append-only file on a claim (or an
emptyDir, when asked), and the server's data dir on a volume of its own."""

from __future__ import annotations

import pytest

from service.settings import Settings
from tests.deploy.chart import (
    FULLNAME,
    Manifest,
    environment,
    example,
    find,
    kinds,
    render,
    server,
    template,
)

REDIS = f"{FULLNAME}-redis"


def redis_pod(manifests: list[Manifest]) -> Manifest:
    return dict(find(manifests, "Deployment", REDIS)["spec"]["template"]["spec"])


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def redis_data_volume(manifests: list[Manifest]) -> Manifest:
    pod = redis_pod(manifests)
    (container,) = pod["containers"]
    data_dir = flag(container["args"], "--dir")
    (mount,) = (m for m in container["volumeMounts"] if m["mountPath"] == data_dir)
    (volume,) = (v for v in pod["volumes"] if v["name"] == mount["name"])
    return dict(volume)


def test_the_bundled_redis_keeps_an_append_only_file_on_a_claim_by_default() -> None:
    manifests = render()
    (container,) = redis_pod(manifests)["containers"]
    args = container["args"]
    assert (flag(args, "--appendonly"), flag(args, "--appendfsync")) == ("yes", "everysec")
    assert flag(args, "--save") == "", "the append-only file alone, no snapshots"
    claim = find(manifests, "PersistentVolumeClaim", REDIS)
    assert redis_data_volume(manifests)["persistentVolumeClaim"] == {"claimName": REDIS}
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert "storageClassName" not in claim["spec"], "the cluster's default class"
    strategy = find(manifests, "Deployment", REDIS)["spec"]["strategy"]
    assert strategy == {"type": "Recreate"}, "never two servers on one append-only file"


def test_the_claim_takes_its_size_class_and_annotations_from_values() -> None:
    manifests = render(
        "--set", "redis.persistence.size=20Gi", "--set", "redis.persistence.storageClass=fast",
        "--set", "redis.persistence.annotations.helm\\.sh/resource-policy=keep",
        "--set", "redis.appendfsync=always",
    )  # fmt: skip
    claim = find(manifests, "PersistentVolumeClaim", REDIS)
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert claim["spec"]["storageClassName"] == "fast"
    assert claim["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    (container,) = redis_pod(manifests)["containers"]
    assert flag(container["args"], "--appendfsync") == "always"
    unclassed = render("--set", "redis.persistence.storageClass=-")
    assert find(unclassed, "PersistentVolumeClaim", REDIS)["spec"]["storageClassName"] == ""


def test_an_existing_claim_is_used_and_none_is_made() -> None:
    manifests = render("--set", "redis.persistence.existingClaim=shop-redis-data")
    assert "PersistentVolumeClaim" not in kinds(manifests)
    assert redis_data_volume(manifests)["persistentVolumeClaim"] == {"claimName": "shop-redis-data"}


def test_without_persistence_redis_still_writes_its_file_to_an_empty_dir() -> None:
    manifests = render("--set", "redis.persistence.enabled=false")
    assert "PersistentVolumeClaim" not in kinds(manifests)
    assert redis_data_volume(manifests) == {"name": "data", "emptyDir": {}}
    (container,) = redis_pod(manifests)["containers"]
    assert flag(container["args"], "--appendonly") == "yes", "a container restart keeps it"


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_an_external_redis_gets_no_claim(variant: str) -> None:
    assert "PersistentVolumeClaim" not in kinds(example(variant))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "redis.appendfsync=sometimes"], "/redis/appendfsync"),
        (["--set", "redis.persistence.size=lots"], "/redis/persistence/size"),
        (["--set", "redis.persistence.enabled=perhaps"], "/redis/persistence/enabled"),
        (["--set", "redis.maxmemoryPolicy=lru"], "/redis/maxmemoryPolicy"),
        (["--set", "dataDir.sizelimit=1Gi"], "sizelimit"),
    ],
    ids=["appendfsync", "size", "enabled", "policy", "misspelt"],
)
def test_the_values_schema_refuses_what_redis_or_kubernetes_would(
    args: list[str], message: str
) -> None:
    result = template(*args)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_servers_data_dir_is_an_empty_dir_where_the_service_looks() -> None:
    manifests = render()
    settings = Settings.from_env(environment(manifests))
    (mount,) = (m for m in server(manifests)["volumeMounts"] if m["name"] == "data")
    assert mount == {"name": "data", "mountPath": settings.data_dir}
    pod = find(manifests, "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["data"]["emptyDir"] == {"sizeLimit": "256Mi"}


def test_the_data_dir_can_be_a_claim_and_config_cannot_move_it() -> None:
    manifests = render("--set", "dataDir.volume.persistentVolumeClaim.claimName=witryna-data")
    pod = find(manifests, "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["data"] == {
        "name": "data",
        "persistentVolumeClaim": {"claimName": "witryna-data"},
    }
    refused = template("--set", "config.data_dir=/elsewhere")
    assert refused.returncode != 0
    assert "config.data_dir is set by the chart" in refused.stderr
