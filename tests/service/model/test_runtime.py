"""The exported model as the service runs it, through ONNX Runtime."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from service.errors import ModelUnavailable
from service.model import encoding
from service.model.manifest import MANIFEST_FILE
from service.model.runtime import CPU, CUDA, TENSORRT, ModelRuntime, choose_providers


@pytest.fixture(scope="module")
def runtime(artefact: Path) -> ModelRuntime:
    return ModelRuntime(artefact, threads=1, device="auto")


def random_batch(rng: np.random.Generator, runtime: ModelRuntime, rows: int) -> np.ndarray:
    vocab = runtime.vocab
    sequences = []
    for _ in range(rows):
        length = int(rng.integers(1, runtime.max_len + 1))
        seq = np.stack(
            [
                rng.integers(0, vocab.item_vocab_size, length),
                rng.integers(1, len(encoding.EVENT_TYPES) + 1, length),
                rng.integers(0, vocab.category_vocab_size, length),
                rng.integers(1, len(encoding.CHANNELS) + 1, length),
                rng.integers(1, encoding.GAP_BUCKETS, length),
                rng.integers(1, encoding.HOUR_BUCKETS, length),
                rng.integers(1, encoding.WEEKDAY_BUCKETS, length),
            ],
            axis=1,
        )
        sequences.append(seq)
    return encoding.pad_left(sequences, runtime.max_len)


def test_rankings_never_hold_padding_or_unknown_ids(runtime: ModelRuntime) -> None:
    seed = 20261123
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    for rows in (1, 2, 7, 32):
        prediction = runtime.predict(random_batch(rng, runtime, rows))
        assert prediction.top_items.shape == (rows, runtime.manifest.feature_spec.top_k)
        assert prediction.top_items.min() >= encoding.FIRST_ID
        assert prediction.top_items.max() < runtime.vocab.item_vocab_size
        assert np.isfinite(prediction.top_scores).all()
        assert np.allclose(prediction.intent_probs.sum(axis=1), 1.0, atol=1e-4)


def test_unknown_items_only_still_rank_known_items(runtime: ModelRuntime) -> None:
    row = np.ones((3, len(encoding.FEATURES)), dtype=np.int64)
    prediction = runtime.predict(encoding.pad_left([row, row[:1]], runtime.max_len))
    assert (prediction.top_items >= encoding.FIRST_ID).all()


def test_providers_are_tried_tensorrt_then_cuda_then_cpu() -> None:
    assert choose_providers("auto", [CPU]) == [CPU]
    assert choose_providers("auto", [CUDA, CPU]) == [CUDA, CPU]
    assert choose_providers("auto", [CPU, CUDA, TENSORRT]) == [TENSORRT, CUDA, CPU]
    assert choose_providers("cuda", [TENSORRT, CUDA, CPU]) == [TENSORRT, CUDA, CPU]
    assert choose_providers("cpu", [CUDA, CPU]) == [CPU]
    with pytest.raises(ModelUnavailable, match="WITRYNA_DEVICE=cuda"):
        choose_providers("cuda", [CPU])


def test_an_artefact_that_disagrees_with_the_encoder_is_refused(
    artefact: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "demo" / "v0"
    shutil.copytree(artefact, copy)
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["feature_spec"]["event_types"] = manifest["feature_spec"]["event_types"][::-1]
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ModelUnavailable, match=r"feature_spec\.event_types"):
        ModelRuntime(copy, threads=1, device="cpu")


def test_bound_inputs_and_outputs_give_the_same_answers(artefact: Path) -> None:
    plain = ModelRuntime(artefact, threads=1, device="cpu")
    bound = ModelRuntime(artefact, threads=1, device="cpu", io_binding=True)
    assert bound.io_binding
    assert not plain.io_binding
    batch = random_batch(np.random.default_rng(7), plain, 9)
    ours, theirs = bound.predict(batch), plain.predict(batch)
    np.testing.assert_array_equal(ours.top_items, theirs.top_items)
    np.testing.assert_allclose(ours.intent_probs, theirs.intent_probs, atol=1e-6)
