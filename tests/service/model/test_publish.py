"""Publishing a model while a server answers requests: no failed request, then the new version."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.model.manifest import CURRENT_FILE, MANIFEST_FILE, MODEL_FILE
from service.storage.server import RedisServer
from tests._support.stack import ROOT, SECRET, Service, wait_for


def copy_version(artefact: Path, root: Path, version: str) -> Path:
    """The demo artefact under another version name, as `witryna export` would lay it out:
    staged in a dot-folder and renamed whole. A service with no CURRENT serves the newest
    folder it sees, so a copy made in place could be served before its manifest is renamed
    (a fresh clone's run once saw the demo's own version between the two)."""
    target = root / version
    staging = root / f".staging-{version}"
    shutil.copytree(artefact, staging)
    manifest = json.loads((staging / MANIFEST_FILE).read_text())
    manifest["version"] = version
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest))
    staging.rename(target)
    return target


def witryna_publish(models: Path, version: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", "publish", version, "--models-dir", str(models)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


class Traffic(threading.Thread):
    """Page views without pause, recording every status and model version."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.answers: list[tuple[int, str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        body = {"visitor_id": "v-swap", "page": {"type": "home"}}
        with httpx.Client(headers=SECRET, base_url=self.url, timeout=10.0) as http:
            while not self.halt.is_set():
                response = http.post("/v1/page-views", json=body)
                version = response.json().get("model_version", "") if response.is_success else ""
                self.answers.append((response.status_code, version))

    def versions_seen(self) -> list[str]:
        return list(dict.fromkeys(version for _, version in self.answers))


@pytest.fixture
def models(tmp_path: Path, artefact: Path) -> Path:
    root = tmp_path / "models" / "demo"
    copy_version(artefact, root, "20000101T000000Z")
    return tmp_path / "models"


@pytest.fixture
def traffic_on(models: Path, redis_server: RedisServer) -> Iterator[Traffic]:
    env = {"WITRYNA_MODELS_DIR": str(models), "WITRYNA_MODEL_POLL_S": "0.1"}
    with Service(redis_server.url, **env) as service:
        traffic = Traffic(service.url)
        traffic.start()
        yield traffic
        traffic.halt.set()
        traffic.join(timeout=10)


def test_publish_swaps_the_model_without_a_failed_request(
    models: Path, artefact: Path, traffic_on: Traffic
) -> None:
    wait_for(lambda: len(traffic_on.answers) > 20)
    copy_version(artefact, models / "demo", "20300101T000000Z")
    published = witryna_publish(models, "20300101T000000Z")
    assert published.returncode == 0, published.stderr
    assert (models / "demo" / CURRENT_FILE).read_text().strip() == "20300101T000000Z"

    wait_for(lambda: traffic_on.versions_seen()[-1:] == ["demo/20300101T000000Z"])
    count = len(traffic_on.answers)
    wait_for(lambda: len(traffic_on.answers) > count + 20)
    assert traffic_on.versions_seen() == ["demo/20000101T000000Z", "demo/20300101T000000Z"]
    assert {status for status, _ in traffic_on.answers} == {200}


def test_a_broken_artefact_is_refused_and_the_old_one_keeps_serving(
    models: Path, artefact: Path, traffic_on: Traffic
) -> None:
    broken = copy_version(artefact, models / "demo", "20300101T000000Z")
    onnx = (broken / MODEL_FILE).read_bytes()
    (broken / MODEL_FILE).write_bytes(onnx[: len(onnx) // 2])

    refused = witryna_publish(models, "20300101T000000Z")
    assert refused.returncode == 2
    assert "20300101T000000Z" in refused.stderr
    assert not (models / "demo" / CURRENT_FILE).exists()

    # Even a pointer switched by hand is refused by the running service.
    (models / "demo" / CURRENT_FILE).write_text("20300101T000000Z\n")
    with httpx.Client(headers=SECRET, base_url=traffic_on.url) as http:
        wait_for(lambda: http.get("/readyz").json()["model_reload_error"] is not None)
        ready = http.get("/readyz").json()
    assert "20300101T000000Z" in ready["model_reload_error"]
    assert ready["model_version"] == "demo/20000101T000000Z"
    count = len(traffic_on.answers)
    wait_for(lambda: len(traffic_on.answers) > count + 20)
    assert traffic_on.versions_seen() == ["demo/20000101T000000Z"]
    assert {status for status, _ in traffic_on.answers} == {200}
