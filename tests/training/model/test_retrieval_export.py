"""An export with an item index (the run's tiny model, exported with one): what it ships,
that the service runs it as it runs the full graph, that publishing holds it to its recall,
and that a served page view and the benchmark use it."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from service.decision.experiments import in_holdout
from service.decision.policy import load
from service.model.item_index import INDEX_FILE, TABLE_FILE, breadths, lists_for
from service.model.manifest import ENCODER_FILE, MANIFEST_FILE, RECALL_TARGET, read_manifest
from service.model.runtime import ModelRuntime
from service.storage.server import RedisServer
from tests._support.stack import ROOT, SECRET, SERVICE_ENV, Service
from training.data.simulator import simulate
from training.model.retrieval import CANDIDATES, MIN_SESSIONS

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:.*LeafSpec:FutureWarning")]


@pytest.fixture(scope="module")
def artefact(tiny_artefact: Path) -> Path:
    """The run's tiny model, exported with its index (tests/_support/tiny_model.py)."""
    return tiny_artefact


@pytest.fixture(scope="module")
def models(artefact: Path) -> Path:
    return artefact.parent.parent


def test_the_artefact_ships_the_encoder_tables_and_an_index_it_checked(artefact: Path) -> None:
    manifest = read_manifest(artefact)
    spec = manifest.retrieval
    assert spec is not None
    for name in (ENCODER_FILE, TABLE_FILE, INDEX_FILE):
        assert (artefact / name).stat().st_size > 0, name
    assert spec.encoder_sha256 == hashlib.sha256((artefact / ENCODER_FILE).read_bytes()).hexdigest()
    assert spec.recall_at_20 >= RECALL_TARGET
    assert spec.breadth in breadths(lists_for(len(manifest.items)))
    assert spec.candidates == CANDIDATES
    assert spec.measured_on == "held-out sessions"
    assert spec.probes >= MIN_SESSIONS // 2
    assert spec.parity_max_abs_diff <= 1e-4


def test_the_service_scores_candidates_as_the_full_graph_scores_every_item(
    artefact: Path,
) -> None:
    split = ModelRuntime(artefact, threads=1, device="cpu", retrieval_min_items=0)
    full = ModelRuntime(artefact, threads=1, device="cpu")
    assert split.retrieval
    assert split.scorer is not None
    assert not full.retrieval
    assert full.scorer is None
    sessions = [s.events[: 1 + n % 9] for n, s in enumerate(simulate(48, seed=5))]
    batch = full.encode(sessions)
    a, b = split.predict(batch), full.predict(batch)
    np.testing.assert_allclose(a.intent_probs, b.intent_probs, atol=1e-5)
    assert a.uplift is not None
    assert b.uplift is not None
    np.testing.assert_allclose(a.uplift, b.uplift, atol=1e-5)
    found = [len(set(x) & set(y)) / len(y) for x, y in zip(a.top_items, b.top_items, strict=True)]
    assert np.mean(found) >= RECALL_TARGET, np.mean(found)
    same = a.top_items[:, 0] == b.top_items[:, 0]
    assert same.mean() >= 0.9
    np.testing.assert_allclose(a.top_scores[same, 0], b.top_scores[same, 0], rtol=0.02)


def publish(models: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "service", "publish", "--models-dir", str(models), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_publishing_refuses_an_index_that_finds_too_little_unless_forced(
    models: Path, artefact: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    manifest = copy / "demo" / artefact.name / MANIFEST_FILE
    described = json.loads(manifest.read_text())
    described["retrieval"]["recall_at_20"] = 0.5
    manifest.write_text(json.dumps(described))

    refused = publish(copy, "--name", "demo", artefact.name)
    assert refused.returncode == 2, refused.stderr
    assert "its item index finds 0.500 of the exact top 20" in refused.stderr
    assert not (copy / "demo" / "CURRENT").exists()

    forced = publish(copy, "--name", "demo", "--force", artefact.name)
    assert forced.returncode == 0, forced.stderr
    assert "published with --force though its item index finds 0.500" in forced.stderr
    assert (copy / "demo" / "CURRENT").read_text().strip() == artefact.name


def test_a_served_page_view_is_ranked_through_the_index(
    models: Path, artefact: Path, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    env = {**SERVICE_ENV, "WITRYNA_MODELS_DIR": str(models), "WITRYNA_RETRIEVAL_MIN_ITEMS": "0"}
    item = read_manifest(artefact).items[0]
    visitor = next(f"r-{n}" for n in range(100) if not in_holdout(load(None), f"r-{n}"))
    view = {"visitor_id": visitor, "page": {"type": "product", "item_id": item}}
    with (
        RedisServer() as redis,
        Service(redis.url, log=log, **env) as service,
        httpx.Client(base_url=service.url, headers=SECRET, timeout=10.0) as client,
    ):
        client.post("/v1/page-views", json=view).raise_for_status()
        answer = client.post("/v1/page-views", json=view)
    assert answer.status_code == 200, answer.text
    carousel = answer.json()["slots"]["recommendations"]
    assert carousel["items"], carousel
    assert "model:next_item" in carousel["reasons"], carousel
    assert "scores candidates from its item index" in log.read_text()


def test_the_benchmark_compares_catalogues_each_served_as_the_service_would(
    models: Path, artefact: Path, tmp_path: Path
) -> None:
    """`witryna bench --catalogues`: one stack a model, the index used where it is shipped."""
    catalogues = tmp_path / "catalogues"
    shutil.copytree(artefact, catalogues / "index" / artefact.name)
    demo = ROOT / "models" / "demo"
    served = (demo / "CURRENT").read_text().strip()
    shutil.copytree(demo / served, catalogues / "full" / served)
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "service", "bench", "--requests", "20", "--catalogues",
        str(catalogues), "--seconds", "1", "--catalogue-rounds", "2", "--out", str(out),
    ]  # fmt: skip
    env = {**os.environ, "WITRYNA_RETRIEVAL_MIN_ITEMS": "0"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(out.glob("bench-*.json")).read_text())
    runs = {run["model"]: run for run in result["catalogues"]["runs"]}
    assert runs["index"]["scoring"].startswith("item index (")
    assert runs["full"]["scoring"] == "every item (full graph)"
    for run in runs.values():
        assert run["throughput"] > 0, run
        assert run["errors"] == 0, run
        assert len(run["round_ratios"]) == 2
    report = next(out.glob("bench-*.md")).read_text()
    assert "## Catalogue scale: page views at saturation by catalogue size" in report


def test_bench_retrieval_measures_recall_and_speed_by_lists_read(
    artefact: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "service", "bench-retrieval", str(artefact),
        "--seconds", "0.3", "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(out.glob("retrieval-*.json")).read_text())
    manifest = read_manifest(artefact)
    assert manifest.retrieval is not None
    lists = lists_for(len(manifest.items))
    assert result["lists"] == lists
    assert result["tuned_breadth"] == manifest.retrieval.breadth
    runs = {run["breadth"]: run for run in result["runs"]}
    assert list(runs) == breadths(lists)
    assert runs[lists]["recall_at_20"] >= RECALL_TARGET
    assert runs[lists]["recall_at_20"] >= runs[min(runs)]["recall_at_20"]
    assert all(run["batched_per_s"] > 0 for run in runs.values())
    assert result["full_graph_per_s"] > 0
    report = next(out.glob("retrieval-*.md")).read_text()
    assert f"| {manifest.retrieval.breadth} (tuned at export) |" in report
    assert next(out.glob("retrieval-*.png")).stat().st_size > 0


def test_probes_walk_co_visitation_at_shoppers_lengths(tiny_checkpoints: tuple[Path, Path]) -> None:
    """Without held-out sessions (a random bench model), export tunes on these walks."""
    from training.model.checkpoint import load_checkpoint, model_from_checkpoint
    from training.model.retrieval import probe_histories

    checkpoint = load_checkpoint(tiny_checkpoints[0])
    model = model_from_checkpoint(checkpoint)
    shape = checkpoint["heldout_histories"].numpy().astype(np.int64)
    probes = probe_histories(model, shape, 200, seed=4)
    items = probes[..., 0]
    lengths = (items != 0).sum(axis=1)
    assert lengths.min() >= 1
    assert len(set(lengths.tolist())) > 5, "probes come in many lengths"
    neighbours = model.covisit_items.numpy()
    weights = model.covisit_weights.numpy()
    steps = followed = 0
    for row in items:
        walk = row[row != 0]
        for here, there in itertools.pairwise(walk):
            if weights[here].sum() > 0:
                steps += 1
                followed += int(there in neighbours[here][weights[here] > 0])
    assert steps > 100
    assert followed == steps


def test_a_model_served_through_its_index_batches_with_its_own_wait(models: Path) -> None:
    """Its search costs much per call, so its batches wait for company; the full graph's
    do not (bench/results/catalogue-scale-20261202.md)."""
    from service.decision.reloader import Reloader
    from service.settings import Settings
    from service.storage.catalog import Catalog
    from service.storage.client import connect

    with RedisServer() as redis_server:
        catalog = Catalog(connect(redis_server.url, 1000))
        waits = {}
        for least in (0, 10**9):
            settings = Settings(
                models_dir=str(models), model_name="demo", retrieval_min_items=least
            )
            decider = Reloader(settings, catalog).decider
            waits[decider.runtime.scorer is not None] = decider.batcher.max_wait_s
    assert waits == {True: 0.002, False: 0.0}
