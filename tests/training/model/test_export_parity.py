"""Export publishes only what ONNX Runtime reproduces, and publishes it whole."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from service.model.encoding import FEATURES, Vocabulary
from service.model.manifest import MODEL_FILE, latest_artefact, read_manifest
from training.model.checkpoint import model_from_checkpoint
from training.model.export import (
    OUTPUT_NAMES,
    ParityError,
    check_parity,
    export,
    feature_spec,
    parity_batch,
    reserve_version,
)
from training.model.intent_ranker import IntentRanker

pytestmark = [
    pytest.mark.slow,
    # Raised inside torch.export itself, not by our code.
    pytest.mark.filterwarnings("ignore:.*LeafSpec:FutureWarning"),
]


# Shared with the other tests that export (tests/training/conftest.py), made once a run.
@pytest.fixture(scope="module")
def checkpoints(tiny_checkpoints: tuple[Path, Path]) -> tuple[Path, Path]:
    return tiny_checkpoints


@pytest.fixture(scope="module")
def artefact(tiny_artefact: Path) -> Path:
    return tiny_artefact


def load_model(path: Path) -> IntentRanker:
    import torch

    return model_from_checkpoint(torch.load(path, weights_only=True))


def test_artefact_is_complete_and_described(artefact: Path) -> None:
    assert latest_artefact(artefact.parent.parent, "demo") == artefact
    assert sorted(p.name for p in artefact.parent.iterdir()) == [artefact.name]
    manifest = read_manifest(artefact)
    assert manifest.version == artefact.name
    assert manifest.feature_spec == feature_spec(50, manifest.feature_spec.top_k)
    assert manifest.onnx_sha256 == hashlib.sha256((artefact / MODEL_FILE).read_bytes()).hexdigest()
    assert 0.0 <= manifest.parity_max_abs_diff <= 1e-4
    assert len(manifest.data_fingerprint) == 64
    assert "intent_accuracy" in manifest.metrics
    assert set(manifest.popular_items) <= set(manifest.items)


def test_onnx_runs_other_batch_sizes_and_lengths(
    artefact: Path, checkpoints: tuple[Path, Path]
) -> None:
    manifest = read_manifest(artefact)
    session = ort.InferenceSession(str(artefact / MODEL_FILE), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["events"]
    assert [o.name for o in session.get_outputs()] == list(OUTPUT_NAMES)
    vocab = Vocabulary(manifest.items, manifest.categories)
    model = load_model(checkpoints[0])
    for rows, max_len in [(1, 1), (3, 9), (17, 50)]:
        batch = parity_batch(vocab, max_len, rows=rows, seed=rows)
        assert batch.shape[0] == rows
        assert batch.shape[1] == min(max_len, batch.shape[1])
        probs, scores, items, uplift, categories = session.run(None, {"events": batch})
        k = manifest.feature_spec.top_k
        assert probs.shape == (rows, 4)
        assert scores.shape == items.shape == (rows, k)
        assert items.dtype == np.int64
        assert uplift.shape == (rows,)
        assert categories.shape == (rows, len(manifest.categories) + 2)
        assert (items >= 2).all()
        assert check_parity(model, artefact / MODEL_FILE, batch) <= 1e-4
    single = np.zeros((1, 1, len(FEATURES)), dtype=np.int64)
    single[0, 0] = (1, 1, 1, 1, 1, 1, 1)
    assert session.run(None, {"events": single})[0].shape == (1, 4)


def test_mismatched_model_is_refused(artefact: Path, checkpoints: tuple[Path, Path]) -> None:
    manifest = read_manifest(artefact)
    assert load_model(checkpoints[1]).config == load_model(checkpoints[0]).config
    batch = parity_batch(Vocabulary(manifest.items, manifest.categories), 50)
    with pytest.raises(ParityError, match="differ"):
        check_parity(load_model(checkpoints[1]), artefact / MODEL_FILE, batch)


def test_refused_export_publishes_nothing(checkpoints: tuple[Path, Path], tmp_path: Path) -> None:
    models = tmp_path / "models"
    with pytest.raises(ParityError):
        export(checkpoints[0], models, "demo", reference=load_model(checkpoints[1]))
    assert list((models / "demo").iterdir()) == []


def test_versions_are_unique_and_ordered_within_one_second(tmp_path: Path) -> None:
    versions = [reserve_version(tmp_path).name for _ in range(3)]
    assert len(set(versions)) == 3
    assert versions == sorted(versions)


def test_half_precision_export_keeps_fp32_inputs_and_outputs(
    checkpoints: tuple[Path, Path], artefact: Path, tmp_path: Path
) -> None:
    import onnx

    half = export(checkpoints[0], tmp_path / "models", "demo", half=True)
    manifest = read_manifest(half)
    assert manifest.precision == "fp16"
    assert read_manifest(artefact).precision == "fp32"
    assert 0.0 < manifest.parity_max_abs_diff <= 5e-3

    def weight_bytes(path: Path) -> dict[str, int]:
        sizes: dict[str, int] = {}
        for tensor in onnx.load(str(path / MODEL_FILE)).graph.initializer:
            kind = onnx.TensorProto.DataType.Name(tensor.data_type)
            sizes[kind] = sizes.get(kind, 0) + len(tensor.raw_data)
        return sizes

    halved, full_size = weight_bytes(half), weight_bytes(artefact)
    assert "FLOAT" not in halved
    assert halved["FLOAT16"] * 2 == full_size["FLOAT"]
    session = ort.InferenceSession(str(half / MODEL_FILE), providers=["CPUExecutionProvider"])
    assert [i.type for i in session.get_inputs()] == ["tensor(int64)"]
    assert [o.type for o in session.get_outputs()] == [
        "tensor(float)", "tensor(float)", "tensor(int64)", "tensor(float)", "tensor(float)",
    ]  # fmt: skip
    batch = parity_batch(Vocabulary(manifest.items, manifest.categories), 50)
    full, reduced = (
        ort.InferenceSession(str(a / MODEL_FILE), providers=["CPUExecutionProvider"]).run(
            None, {"events": batch}
        )
        for a in (artefact, half)
    )
    assert np.abs(full[0] - reduced[0]).max() <= 5e-3
