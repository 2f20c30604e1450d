"""`witryna models` lists versions and marks the served one; `witryna publish VERSION` rolls
back; publish refuses, unless forced, a model whose items the catalogue in Redis lacks."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import msgspec
import pytest

from service.cli.main import main
from service.model.manifest import CURRENT_FILE, MANIFEST_FILE, Manifest
from service.storage.catalog import Catalog, ItemUpdate
from service.storage.client import connect
from tests._support.stack import ROOT, Backend, RedisClient
from tests.service.model.test_publish import copy_version

OLD, NEW = "20000101T000000Z", "20300101T000000Z"


@pytest.fixture
def models(tmp_path: Path, artefact: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two versions of the real demo artefact; the newer records a better buy_auc."""
    root = tmp_path / "models"
    copy_version(artefact, root / "demo", OLD)
    newer = copy_version(artefact, root / "demo", NEW)
    manifest = json.loads((newer / MANIFEST_FILE).read_text())
    manifest["metrics"]["buy_auc"] = 0.9876
    (newer / MANIFEST_FILE).write_text(json.dumps(manifest))
    for name in ("WITRYNA_REDIS_URL", "WITRYNA_REDIS_CLUSTER", "WITRYNA_MODEL_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WITRYNA_MODELS_DIR", str(root))
    return root


def witryna(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def current(models: Path) -> str:
    return (models / "demo" / CURRENT_FILE).read_text().strip()


def test_models_lists_the_versions_with_their_metrics_and_marks_the_served_one(
    models: Path, manifest: Manifest, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = witryna(capsys, "models")
    assert code == 0
    lines = out.splitlines()
    assert "2 versions" in lines[0]
    assert "no " in lines[0]
    assert "serve the newest" in lines[0]
    assert lines[1].split()[:4] == ["version", "created", "items", "precision"]
    assert "buy_auc" in lines[1].split()
    old, new = lines[2], lines[3]
    created = manifest.created.replace("+00:00", "Z")
    assert old.split()[:4] == [OLD, created, f"{len(manifest.items):,}", "fp32"]
    assert new.startswith("*")
    assert new.split()[1] == NEW
    assert "0.9876" in new
    assert "0.9876" not in old


def test_publishing_an_older_version_rolls_back(
    models: Path, manifest: Manifest, capsys: pytest.CaptureFixture[str]
) -> None:
    assert witryna(capsys, "publish", NEW)[0] == 0
    assert current(models) == NEW
    code, out, _ = witryna(capsys, "publish", OLD)
    assert code == 0
    assert f"published demo/{OLD}" in out
    assert current(models) == OLD

    code, out, _ = witryna(capsys, "models", "--json")
    listed = [msgspec.json.decode(line) for line in out.splitlines()]
    assert [(v["version"], v["served"]) for v in listed] == [(OLD, True), (NEW, False)]
    assert listed[1]["metrics"]["buy_auc"] == 0.9876
    assert listed[0]["items"] == len(manifest.items)
    code, out, _ = witryna(capsys, "models", "--metrics", "buy_auc")
    assert out.splitlines()[1].split() == ["version", "created", "items", "precision", "buy_auc"]
    assert out.splitlines()[2].startswith(f"*  {OLD}")
    assert f"{CURRENT_FILE} names it" in out.splitlines()[0]


def test_an_unknown_name_says_which_models_there_are(
    models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = witryna(capsys, "models", "--name", "rees46")
    assert code == 2
    assert err.strip() == f"witryna: error: no versions of 'rees46' under {models} (models: demo)"


def test_without_a_redis_url_publish_warns_that_it_did_not_check(
    models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = witryna(capsys, "publish", OLD)
    assert code == 0
    assert "the catalogue was not checked: no --redis-url or WITRYNA_REDIS_URL" in err
    assert current(models) == OLD


def stock(backend: Backend, item_ids: list[str]) -> None:
    async def upsert() -> None:
        client = connect(backend.url, timeout_ms=5000, cluster=backend.cluster)
        try:
            await Catalog(client).upsert(ItemUpdate(item_id=i, in_stock=True) for i in item_ids)
        finally:
            await client.aclose()

    asyncio.run(upsert())


@pytest.fixture
def on_redis(
    models: Path, backend: Backend, redis_client: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> Backend:
    """publish's Redis: the catalogue of the service that would serve the model, flushed."""
    monkeypatch.setenv("WITRYNA_REDIS_URL", backend.url)
    for name, value in backend.env.items():
        monkeypatch.setenv(name, value)
    return backend


def test_a_model_the_catalogue_does_not_know_is_refused_unless_forced(
    models: Path, manifest: Manifest, on_redis: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    stock(on_redis, [f"other-{n:05d}" for n in range(20)])
    items = f"{len(manifest.items):,}"
    code, _, err = witryna(capsys, "publish", NEW)
    assert code == 2
    assert err.strip() == (
        f"witryna: error: not published: only 0 of {items} model items are in the catalogue of "
        "20 items (0%, under --min-overlap 50%): its carousels would show next to nothing; "
        "--force publishes it anyway"
    )
    assert not (models / "demo" / CURRENT_FILE).exists()

    code, out, err = witryna(capsys, "publish", NEW, "--force")
    assert code == 0
    assert f"published demo/{NEW}" in out
    assert f"published with --force though only 0 of {items} model items" in err
    assert current(models) == NEW


def test_a_model_that_knows_the_catalogue_publishes(
    models: Path, manifest: Manifest, on_redis: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    stock(on_redis, manifest.items)
    code, _, err = witryna(capsys, "publish", OLD)
    assert code == 0
    assert err == ""
    assert current(models) == OLD


def test_the_threshold_is_an_option(
    models: Path, manifest: Manifest, on_redis: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    known = len(manifest.items) * 2 // 5
    stock(on_redis, manifest.items[:known])
    code, _, err = witryna(capsys, "publish", OLD)
    assert code == 2
    share = f"{100 * known / len(manifest.items):.0f}%"
    assert f"only {known} of {len(manifest.items):,} model items are in the catalogue of " in err
    assert f"{known} items ({share}, under --min-overlap 50%)" in err
    assert witryna(capsys, "publish", OLD, "--min-overlap", "30")[0] == 0
    assert current(models) == OLD


def test_an_empty_catalogue_is_a_new_shop(
    models: Path, on_redis: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = witryna(capsys, "publish", NEW)
    assert code == 0
    assert f"the catalogue was not checked: the catalogue at {on_redis.url} is empty" in err
    assert current(models) == NEW


def test_make_model_names_the_version_current_serves(models: Path, tmp_path: Path) -> None:
    # -o: the virtual environment counts as made, so make installs nothing here.
    command = ["make", "-s", "-f", str(ROOT / "Makefile"), "-o", ".venv/.installed", "model"]
    (models / "demo" / CURRENT_FILE).write_text(f"{OLD}\n")
    made = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert made.stdout.strip() == f"model: models/demo/{OLD}/ (CURRENT)", made.stderr
    (models / "demo" / CURRENT_FILE).unlink()
    made = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert made.stdout.strip() == f"model: models/demo/{NEW}/ (the newest: none published)"
