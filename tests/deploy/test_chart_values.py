"""What the rendered chart does with its values: the image and GPU, the settings the
service will read, Redis, probes, shutdown, security, scaling and metrics."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from service.decision.policy import parse
from service.settings import Settings
from tests._support.stack import ROOT
from tests.deploy.chart import (
    FULLNAME,
    NAMESPACE,
    Manifest,
    environment,
    example,
    find,
    kinds,
    render,
    server,
    template,
    workloads,
)

EXTERNAL = ["--set", "redis.enabled=false", "--set", "externalRedis.url=redis://:pw@cache:6379/2"]
# `witryna serve` kills a worker that has not stopped 10 s after SIGTERM (service/cli/main.py).
SERVER_STOP_S = 10


def pod_spec(manifests: list[Manifest]) -> Manifest:
    return dict(find(manifests, "Deployment")["spec"]["template"]["spec"])


def test_the_gpu_example_runs_the_gpu_image_on_a_gpu() -> None:
    manifests = example("gpu")
    container = server(manifests)
    assert container["image"].endswith(":0.1.0-gpu")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["resources"]["limits"]["memory"] == "8Gi"
    assert Settings.from_env(environment(manifests)).device == "cuda"
    tolerated = {t["key"] for t in pod_spec(manifests)["tolerations"]}
    assert "nvidia.com/gpu" in tolerated


def test_the_cpu_example_asks_for_no_gpu() -> None:
    manifests = example("cpu")
    container = server(manifests)
    assert container["image"].endswith(":0.1.0-cpu")
    assert "nvidia.com/gpu" not in str(manifests)
    assert Settings.from_env(environment(manifests)).device == "auto"


def test_an_unknown_image_variant_is_refused() -> None:
    result = template("--set", "image.variant=tpu")
    assert result.returncode != 0
    assert "image.variant must be cpu or gpu" in result.stderr


def test_a_digest_pins_the_image() -> None:
    digest = "sha256:" + "ab" * 32
    manifests = render("--set", "image.registry=r.example", "--set", f"image.digest={digest}")
    assert server(manifests)["image"] == f"r.example/witryna@{digest}"


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_the_service_accepts_the_environment_the_chart_builds(variant: str) -> None:
    settings = Settings.from_env(environment(example(variant)))
    assert settings.host == "0.0.0.0"
    assert settings.redis_url == "redis://redis-master.redis.svc:6379/0"
    assert settings.models_dir == "/srv/witryna/models"
    assert settings.workers == 2
    assert settings.policy_path is None
    assert settings.demo is False
    assert settings.cors_origin_list == ["https://shop.example", "https://www.shop.example"]


def test_numbers_from_a_values_file_are_written_as_an_operator_wrote_them(tmp_path: Path) -> None:
    # Helm reads YAML numbers as floats and would print 2592000 as 2.592e+06.
    values = tmp_path / "values.yaml"
    values.write_text("config:\n  history_ttl_s: 2592000\n  model_poll_s: 2.5\n")
    env = environment(render("--values", values))
    assert (env["WITRYNA_HISTORY_TTL_S"], env["WITRYNA_MODEL_POLL_S"]) == ("2592000", "2.5")
    settings = Settings.from_env(env)
    assert (settings.history_ttl_s, settings.model_poll_s) == (2592000, 2.5)


def test_config_may_not_override_what_the_chart_derives() -> None:
    result = template("--set", "config.redis_url=redis://elsewhere")
    assert result.returncode != 0
    assert "config.redis_url is set by the chart" in result.stderr


def test_the_bundled_redis_is_what_the_service_is_pointed_at() -> None:
    manifests = render()
    url = Settings.from_env(environment(manifests)).redis_url
    redis_service = find(manifests, "Service", f"{FULLNAME}-redis")
    password = base64.b64decode(
        find(manifests, "Secret", f"{FULLNAME}-redis")["data"]["redis-password"]
    ).decode()
    assert len(password) == 32
    port = redis_service["spec"]["ports"][0]["port"]
    assert url == f"redis://:{password}@{FULLNAME}-redis:{port}/0"
    redis = find(manifests, "Deployment", f"{FULLNAME}-redis")
    pod_labels = redis["spec"]["template"]["metadata"]["labels"]
    assert redis_service["spec"]["selector"].items() <= pod_labels.items()
    assert "WITRYNA_REDIS_URL" not in find(manifests, "ConfigMap")["data"], "kept out of sight"


def redis_container(manifests: list[Manifest]) -> Manifest:
    pod = find(manifests, "Deployment", f"{FULLNAME}-redis")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return dict(container)


@pytest.mark.parametrize(
    ("args", "secret", "key"),
    [
        (["--set", "redis.auth.password=s3cret"], f"{FULLNAME}-redis", "redis-password"),
        (
            ["--set", "redis.auth.existingSecret=shop-auth",
             "--set", "redis.auth.existingSecretPasswordKey=pw"],
            "shop-auth", "pw",
        ),
    ],
    ids=["given", "existing-secret"],
)  # fmt: skip
def test_the_bundled_redis_requires_the_password_the_service_sends(
    args: list[str], secret: str, key: str
) -> None:
    manifests = render(*args)
    redis = redis_container(manifests)
    (auth,) = redis["env"]
    assert auth["name"] == "REDISCLI_AUTH", "redis-cli in the probe authenticates with it"
    assert auth["valueFrom"]["secretKeyRef"] == {"name": secret, "key": key}
    flag = redis["args"].index("--requirepass")
    assert redis["args"][flag + 1] == "$(REDISCLI_AUTH)"
    env = server(manifests)["env"]
    (password, url) = [v for v in env if v["name"] in ("REDIS_PASSWORD", "WITRYNA_REDIS_URL")]
    assert password["valueFrom"]["secretKeyRef"] == {"name": secret, "key": key}
    assert url == {
        "name": "WITRYNA_REDIS_URL",
        "value": f"redis://:$(REDIS_PASSWORD)@{FULLNAME}-redis:6379/0",
    }
    if secret == "shop-auth":
        secrets = [m["metadata"]["name"] for m in manifests if m["kind"] == "Secret"]
        assert secrets == [f"{FULLNAME}-keys"], "the operator's Secret, no password of the chart's"
    else:
        data = find(manifests, "Secret", secret)["data"]
        assert base64.b64decode(data[key]) == b"s3cret"
        assert Settings.from_env(environment(manifests)).redis_url == (
            f"redis://:s3cret@{FULLNAME}-redis:6379/0"
        )


def test_network_policies_admit_the_port_and_redis_only_from_the_server() -> None:
    manifests = render("--set-json", 'networkPolicy.ingressFrom=[{"namespaceSelector": {}}]')
    deployment = find(manifests, "Deployment")
    server_labels = deployment["spec"]["template"]["metadata"]["labels"]
    policy = find(manifests, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= server_labels.items()
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert rule["from"] == [{"namespaceSelector": {}}]
    redis_policy = find(manifests, "NetworkPolicy", f"{FULLNAME}-redis")
    redis_labels = find(manifests, "Deployment", f"{FULLNAME}-redis")["spec"]["template"]
    assert redis_policy["spec"]["podSelector"]["matchLabels"].items() <= (
        redis_labels["metadata"]["labels"].items()
    )
    (redis_rule,) = redis_policy["spec"]["ingress"]
    (peer,) = redis_rule["from"]
    assert peer["podSelector"]["matchLabels"].items() <= server_labels.items()
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
    assert "NetworkPolicy" not in kinds(render("--set", "networkPolicy.enabled=false"))
    assert kinds(render(*EXTERNAL)).count("NetworkPolicy") == 1, "no Redis of ours to guard"


def test_the_ingress_appears_when_enabled_with_nginx_limits_and_timeouts() -> None:
    assert "Ingress" not in kinds(render())
    manifests = render("--set", "ingress.enabled=true", "--set", "ingress.hostname=api.shop")
    ingress = find(manifests, "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/limit-connections"] == "20"
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "5"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "api.shop"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = find(manifests, "Service")
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    assert ingress["spec"]["ingressClassName"] == "nginx"


def test_an_external_redis_url_travels_in_a_secret() -> None:
    manifests = render(*EXTERNAL)
    assert f"{FULLNAME}-redis" not in {m["metadata"]["name"] for m in manifests}
    secret = find(manifests, "Secret")
    assert base64.b64decode(secret["data"]["redis-url"]) == b"redis://:pw@cache:6379/2"
    assert "WITRYNA_REDIS_URL" not in find(manifests, "ConfigMap")["data"]
    assert Settings.from_env(environment(manifests)).redis_url == "redis://:pw@cache:6379/2"


def test_a_redis_cluster_is_its_node_url_and_one_setting() -> None:
    manifests = render(*EXTERNAL, "--set", "config.redis_cluster=true")
    settings = Settings.from_env(environment(manifests))
    assert (settings.redis_url, settings.redis_cluster) == ("redis://:pw@cache:6379/2", True)
    assert Settings.from_env(environment(render(*EXTERNAL))).redis_cluster is False


def test_an_existing_secret_can_hold_the_redis_url() -> None:
    manifests = render(
        "--set", "redis.enabled=false", "--set", "externalRedis.existingSecret=shop-redis",
        "--set", "externalRedis.existingSecretKey=url",
    )  # fmt: skip
    secrets = [m["metadata"]["name"] for m in manifests if m["kind"] == "Secret"]
    assert secrets == [f"{FULLNAME}-keys"], "no Secret of the chart's own for the URL"
    (variable,) = [v for v in server(manifests)["env"] if v["name"] == "WITRYNA_REDIS_URL"]
    assert variable["valueFrom"]["secretKeyRef"] == {"name": "shop-redis", "key": "url"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "externalRedis.url=redis://cache:6379/0"], "set redis.enabled=false"),
        (["--set", "redis.enabled=false"], "Witryna needs a Redis"),
    ],
    ids=["both", "neither"],
)
def test_exactly_one_redis_must_be_chosen(args: list[str], message: str) -> None:
    result = template(*args)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_probes_ask_readyz_and_healthz_on_the_served_port(variant: str) -> None:
    manifests = example(variant)
    container = server(manifests)
    (port,) = container["ports"]
    assert port["name"] == "http"
    assert int(environment(manifests)["WITRYNA_PORT"]) == port["containerPort"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = find(manifests, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_shutdown_drains_before_the_pod_is_killed() -> None:
    manifests = render()
    pause = server(manifests)["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "sleep"
    grace = pod_spec(manifests)["terminationGracePeriodSeconds"]
    assert grace > int(pause[1]) + SERVER_STOP_S


@pytest.mark.parametrize("render_args", [[], ["--values", ROOT / "helm" / "values-gpu.yaml"]])
def test_every_pod_runs_non_root_on_a_read_only_root(render_args: list[str]) -> None:
    pods = list(workloads(render(*render_args)))
    assert pods
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]


def test_tmp_and_the_data_dir_are_the_only_writable_folders_of_the_server() -> None:
    manifests = render()
    mounts = {m["mountPath"]: m for m in server(manifests)["volumeMounts"]}
    data_dir = Settings.from_env(environment(manifests)).data_dir
    assert set(mounts) == {"/tmp", data_dir}
    volumes = {v["name"]: v for v in pod_spec(manifests)["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    assert "emptyDir" in volumes[mounts[data_dir]["name"]]


def test_a_models_volume_is_mounted_read_only_where_the_service_looks() -> None:
    manifests = render("--set", "model.volume.persistentVolumeClaim.claimName=models")
    settings = Settings.from_env(environment(manifests))
    (mount,) = (m for m in server(manifests)["volumeMounts"] if m["name"] == "models")
    assert mount == {"name": "models", "mountPath": settings.models_dir, "readOnly": True}
    volumes = {v["name"]: v for v in pod_spec(manifests)["volumes"]}
    assert volumes["models"]["persistentVolumeClaim"] == {"claimName": "models"}


def test_a_policy_file_is_mounted_where_the_service_reads_it() -> None:
    policy_file = ROOT / "service" / "decision" / "default_policy.toml"
    manifests = render("--set-file", f"policy={policy_file}")
    path = Path(Settings.from_env(environment(manifests)).policy_path or "")
    (mount,) = (m for m in server(manifests)["volumeMounts"] if m["mountPath"] == str(path.parent))
    volumes = {v["name"]: v for v in pod_spec(manifests)["volumes"]}
    config_map = find(manifests, "ConfigMap", volumes[mount["name"]]["configMap"]["name"])
    policy = parse(config_map["data"][path.name], source=path.name)
    assert policy == parse(policy_file.read_text(), source=policy_file.name)


def test_settings_changes_roll_the_pods_and_policy_edits_do_not() -> None:
    # The service reloads an edited policy itself, but reads settings only at start.
    def checksum(*args: str) -> str:
        annotations = find(render(*args), "Deployment")["spec"]["template"]["metadata"]
        return str(annotations["annotations"]["checksum/config"])

    base = checksum("--set", "policy=version = 'a'")
    assert checksum("--set", "policy=version = 'b'") == base
    assert checksum("--set", "policy=version = 'a'", "--set", "config.workers=3") != base


def test_autoscaling_takes_over_the_replica_count() -> None:
    fixed = find(render(), "Deployment")
    assert fixed["spec"]["replicas"] == 2
    assert "HorizontalPodAutoscaler" not in kinds(render())
    manifests = render("--set", "autoscaling.enabled=true", "--set", "autoscaling.maxReplicas=7")
    assert "replicas" not in find(manifests, "Deployment")["spec"]
    hpa = find(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": FULLNAME,
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 7)


def test_the_disruption_budget_guards_the_server_pods() -> None:
    manifests = render()
    pdb = find(manifests, "PodDisruptionBudget")
    pod_labels = find(manifests, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "server"


def test_the_service_monitor_appears_only_when_enabled_and_scrapes_metrics() -> None:
    assert "ServiceMonitor" not in kinds(render())
    manifests = render(
        "--set", "metrics.serviceMonitor.enabled=true",
        "--set", "metrics.serviceMonitor.labels.release=prometheus",
    )  # fmt: skip
    monitor = find(manifests, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    service = find(manifests, "Service")
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["name"] == endpoint["port"]
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
