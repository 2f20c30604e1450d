"""The Helm chart: linted, rendered for the CPU and GPU examples and validated offline
against the Kubernetes schemas that kubernetes-validate ships."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.chart import (
    CHART,
    EXAMPLES,
    Manifest,
    example,
    find,
    helm,
    kinds,
    leaf_paths,
    render,
)

# The chart's kubeVersion floor (Chart.yaml) and a recent release.
KUBERNETES = ("1.25", "1.35")
# Custom resources: no schema ships for them, so they are checked by the tests below.
CUSTOM_KINDS = {"ServiceMonitor"}
RENDERS = {
    "defaults": [],
    "cpu": ["--values", EXAMPLES["cpu"]],
    "gpu": ["--values", EXAMPLES["gpu"]],
    "ingress": ["--set", "ingress.enabled=true", "--set", "ingress.tlsSecret=shop-tls"],
}


@pytest.mark.parametrize("values", [None, *EXAMPLES.values()], ids=["defaults", *EXAMPLES])
def test_helm_lint_is_clean_in_strict_mode(values: Any) -> None:
    result = helm("lint", "--strict", CHART, *(["--values", values] if values else []))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout
    assert "[WARNING]" not in result.stdout
    assert "[ERROR]" not in result.stdout


@pytest.mark.parametrize("version", KUBERNETES)
@pytest.mark.parametrize("render_args", RENDERS.values(), ids=RENDERS.keys())
def test_every_manifest_is_valid_against_the_strict_schemas(
    render_args: list[str], version: str
) -> None:
    manifests = render(*render_args)
    checked = []
    for manifest in manifests:
        if manifest["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(map(str, exc.path))
            pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']}: {where}: {exc}")
        checked.append(manifest["kind"])
    assert {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy"} <= set(
        checked
    )


def test_the_validator_rejects_a_misspelt_field() -> None:
    # Strict mode is what catches a typo in a template; prove it is on.
    deployment = find(render(), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readynessProbe"):
        kubernetes_validate.validate(deployment, KUBERNETES[-1], strict=True)


@pytest.mark.parametrize("variant", EXAMPLES)
def test_the_examples_render_what_production_needs(variant: str) -> None:
    assert kinds(example(variant)) == sorted(
        [
            "ConfigMap",
            "Deployment",
            "HorizontalPodAutoscaler",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Secret",
            "Secret",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
        ]
    )


def test_every_resource_carries_the_standard_labels() -> None:
    standard = {
        "app.kubernetes.io/name",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/version",
        "app.kubernetes.io/managed-by",
        "helm.sh/chart",
    }
    manifests: list[Manifest] = render() + example("cpu")
    for manifest in manifests:
        assert standard <= manifest["metadata"]["labels"].keys(), manifest["kind"]


def test_every_value_is_documented() -> None:
    text = (CHART / "values.yaml").read_text()
    documented = set(re.findall(r"^\s*## @param (\S+) \S", text, flags=re.MULTILINE))
    # A map documented as a whole (resources, podSecurityContext) covers what it holds.
    undocumented = {
        path
        for path in leaf_paths(yaml.safe_load(text))
        if not any(path == d or path.startswith(f"{d}.") for d in documented)
    }
    assert not undocumented
