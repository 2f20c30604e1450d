"""Runs the real helm binary that `make tools` puts in build/bin on the chart in helm/."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests._support.stack import ROOT

HELM = ROOT / "build" / "bin" / "helm"
CHART = ROOT / "helm" / "witryna"
EXAMPLES = {"cpu": ROOT / "helm" / "values-cpu.yaml", "gpu": ROOT / "helm" / "values-gpu.yaml"}
RELEASE = "shop"
NAMESPACE = "web"
FULLNAME = f"{RELEASE}-witryna"

Manifest = dict[str, Any]


def helm(*args: str | Path) -> subprocess.CompletedProcess[str]:
    if not HELM.exists():
        pytest.fail(f"{HELM} is missing: `make tools` installs it")
    return subprocess.run(
        [str(HELM), *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def template(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return helm("template", RELEASE, CHART, "--namespace", NAMESPACE, *args)


def render(*args: str | Path) -> list[Manifest]:
    result = template(*args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def example(variant: str) -> list[Manifest]:
    return render("--values", EXAMPLES[variant])


def find(manifests: list[Manifest], kind: str, name: str = FULLNAME) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def kinds(manifests: list[Manifest]) -> list[str]:
    return sorted(m["kind"] for m in manifests)


def server(manifests: list[Manifest]) -> Manifest:
    """The Witryna container of the Deployment."""
    pod = find(manifests, "Deployment")["spec"]["template"]["spec"]
    (container,) = (c for c in pod["containers"] if c["name"] == "witryna")
    return dict(container)


def environment(manifests: list[Manifest]) -> dict[str, str]:
    """The server container's environment as the kubelet would build it from these manifests."""
    container = server(manifests)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(find(manifests, "ConfigMap", source["configMapRef"]["name"])["data"])
    for variable in container.get("env", []):
        if "value" in variable:  # $(NAME) names a variable defined above it
            value = variable["value"]
            for name, known in env.items():
                value = value.replace(f"$({name})", known)
            env[variable["name"]] = value
            continue
        ref = variable["valueFrom"]["secretKeyRef"]
        secret = find(manifests, "Secret", ref["name"])
        env[variable["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
    return env


def workloads(manifests: list[Manifest]) -> Iterator[Manifest]:
    """The pod specs of every workload rendered."""
    for manifest in manifests:
        if manifest["kind"] == "Deployment":
            yield manifest["spec"]["template"]["spec"]


def leaf_paths(values: Any, prefix: str = "") -> set[str]:
    """Dotted paths down to the values a user sets; maps left empty count as one value."""
    if isinstance(values, dict) and values:
        return {p for key, value in values.items() for p in leaf_paths(value, f"{prefix}{key}.")}
    return {prefix.rstrip(".")}
