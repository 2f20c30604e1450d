"""Checkpoint to a published artefact: ONNX export, parity check, manifest, atomic rename.

Nothing is published unless ONNX Runtime agrees with PyTorch on real encoded sessions; the
artefact appears under ``models/<name>/<version>/`` in one rename, so a service watching the
folder never sees half of it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec
import numpy as np
import onnx
import onnxruntime as ort
import torch

from service.model.encoding import Encoded, Vocabulary, encode_events, pad_left
from service.model.manifest import (
    MODEL_FILE,
    FeatureSpec,
    Manifest,
    RetrievalSpec,
    expected_spec,
    write_manifest,
)
from training.data.simulator import simulate
from training.model.checkpoint import load_checkpoint, model_from_checkpoint
from training.model.intent_ranker import IntentRanker
from training.model.onnx_export import quiet_export
from training.model.retrieval import AUTO_ITEMS, ship

PARITY_TOLERANCE = 1e-4
# Half precision keeps about three significant digits: probabilities agree to this.
HALF_PARITY_TOLERANCE = 5e-3
# Scores closer than this are ties, where the two runtimes may order items differently.
TIE_TOLERANCE = 1e-6
INPUT_NAME = "events"
OUTPUT_NAMES = ("intent_probs", "top_scores", "top_items", "uplift", "category_probs")
# Outputs compared by value (the rest, top_items, by identity where untied).
_SCORED = (0, 1, 3, 4)


class ParityError(RuntimeError):
    """ONNX Runtime and PyTorch disagree; the artefact is not published."""


def parity_batch(vocab: Vocabulary, max_len: int, rows: int = 12, seed: int = 7) -> Encoded:
    """Encoded simulated sessions cut to mixed lengths (1 to ``max_len`` events), left-padded."""
    rng = np.random.default_rng(seed)
    sessions = [s.events for s in simulate(rows * 3, seed)]
    sessions.sort(key=len, reverse=True)
    prefixes = [
        encode_events(events[: int(rng.integers(1, len(events) + 1))], vocab)
        for events in sessions[:rows]
    ]
    prefixes[0] = encode_events(sessions[0], vocab)
    prefixes[-1] = prefixes[-1][:1]
    return pad_left(prefixes, max_len)


def export_onnx(model: IntentRanker, path: Path, example: Encoded) -> None:
    """Export with dynamic batch and sequence length; ``example`` needs >= 2 rows and columns."""
    if example.shape[0] < 2 or example.shape[1] < 2:
        raise ValueError("export needs an example of at least 2 rows and 2 positions")
    batch = torch.export.Dim("batch", min=1, max=4096)
    length = torch.export.Dim("length", min=1, max=4096)
    quiet_export(
        model.eval(),
        (torch.from_numpy(example),),
        path,
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        dynamic_shapes={"events": {0: batch, 1: length}},
    )


def to_half(onnx_path: Path) -> None:
    """Rewrite the graph in half precision, keeping its fp32 inputs and outputs, so that the
    service feeds and reads it unchanged. At this model's size it was no faster on a CPU
    or on an H100 (README, "On a GPU"); a larger model may gain."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(onnx_path))
    # ONNX Runtime's CPU kernel adds into a scatter in full precision only (the copy and
    # co-visitation sources): those nodes stay fp32 and the converter casts around them.
    half = convert_float_to_float16(model, keep_io_types=True, op_block_list=["ScatterElements"])
    onnx.save(half, str(onnx_path))


def check_parity(
    torch_model: IntentRanker,
    onnx_path: Path,
    batch: Encoded,
    tolerance: float = PARITY_TOLERANCE,
    tie: float = TIE_TOLERANCE,
) -> float:
    """Largest abs difference of ``intent_probs``, ``top_scores``, ``uplift`` and
    ``category_probs``; raises
    ``ParityError`` when it exceeds ``tolerance`` or when top items further apart than
    ``tie`` come out in another order."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ours = session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
    with torch.no_grad():
        theirs = [t.numpy() for t in torch_model.eval()(torch.from_numpy(batch))]
    diff = max(float(np.max(np.abs(ours[i] - theirs[i]))) for i in _SCORED)
    if not diff <= tolerance:
        raise ParityError(f"ONNX and PyTorch differ by {diff:.3g} > {tolerance}")
    untied = _untied(theirs[1], tie)
    mismatched = int(np.sum((ours[2] != theirs[2]) & untied))
    if mismatched:
        raise ParityError(f"{mismatched} untied top items differ (score diff {diff:.3g})")
    return diff


def _untied(scores: np.ndarray, tie: float) -> np.ndarray:
    """True where a score is clearly apart from both neighbours in its sorted row."""
    gaps = np.abs(np.diff(scores, axis=1)) > tie
    edge = np.ones((len(scores), 1), dtype=bool)
    untied: np.ndarray = np.hstack([edge, gaps]) & np.hstack([gaps, edge])
    return untied


def feature_spec(max_len: int, top_k: int) -> FeatureSpec:
    """The encoder's spec with this exporter's outputs (the spec's default is the older
    three, without ``uplift``, which is what a manifest that names none had)."""
    return msgspec.structs.replace(expected_spec(max_len, top_k), outputs=list(OUTPUT_NAMES))


def reserve_version(root: Path) -> Path:
    """An empty folder named by UTC timestamp; a suffix keeps names unique, and in order,
    within one second. ``mkdir`` is the reservation, so two exporters never share one."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    version, n = stamp, 0
    while True:
        try:
            (root / version).mkdir()
        except FileExistsError:
            n += 1
            version = f"{stamp}-{n:02d}"
        else:
            return root / version


def export(
    checkpoint_path: Path | str,
    models_dir: Path | str,
    name: str,
    *,
    reference: IntentRanker | None = None,
    half: bool = False,
    retrieval: bool | None = None,
) -> Path:
    """Publish ``models_dir/name/<version>/`` and return it.

    ``reference`` is the PyTorch model the ONNX graph must agree with; by default the
    checkpoint's own model (a caller holding another copy of it may pass that instead).
    ``half`` publishes the graph in half precision, held to a half-precision tolerance.
    ``retrieval`` ships an item index beside the graph (``training.model.retrieval``); by
    default for catalogues of ``AUTO_ITEMS`` items or more.
    """
    checkpoint = load_checkpoint(checkpoint_path)
    model = model_from_checkpoint(checkpoint)
    vocab = Vocabulary(checkpoint["items"], checkpoint["categories"])
    root = Path(models_dir) / name
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        onnx_path = staging / MODEL_FILE
        export_onnx(model, onnx_path, parity_batch(vocab, checkpoint["max_len"], seed=3))
        batch = parity_batch(vocab, checkpoint["max_len"])
        diff = check_parity(reference or model, onnx_path, batch)
        if half:
            to_half(onnx_path)
            tolerance = HALF_PARITY_TOLERANCE
            diff = check_parity(reference or model, onnx_path, batch, tolerance, tolerance)
        spec = None
        if retrieval or (retrieval is None and len(vocab.items) >= AUTO_ITEMS):
            example = parity_batch(vocab, checkpoint["max_len"], seed=3)
            held_out = checkpoint.get("heldout_histories")
            sessions = None if held_out is None else held_out.numpy().astype(np.int64)
            spec = ship(reference or model, staging, example, batch, PARITY_TOLERANCE, sessions)
        precision: Literal["fp32", "fp16"] = "fp16" if half else "fp32"
        return _publish(staging, root, name, checkpoint, diff, precision, spec)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(
    staging: Path,
    root: Path,
    name: str,
    checkpoint: dict[str, Any],
    diff: float,
    precision: Literal["fp32", "fp16"],
    retrieval: RetrievalSpec | None,
) -> Path:
    target = reserve_version(root)
    manifest = Manifest(
        name=name,
        version=target.name,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        items=list(checkpoint["items"]),
        categories=list(checkpoint["categories"]),
        feature_spec=feature_spec(checkpoint["max_len"], checkpoint["config"]["top_k"]),
        popular_items=list(checkpoint["popular_items"]),
        metrics={k: float(v) for k, v in checkpoint["metrics"].items()},
        data_fingerprint=checkpoint["data_fingerprint"],
        onnx_sha256=hashlib.sha256((staging / MODEL_FILE).read_bytes()).hexdigest(),
        parity_max_abs_diff=diff,
        precision=precision,
        new_item_share=float(checkpoint.get("new_item_share", 0.0)),
        retrieval=retrieval,
    )
    # The manifest goes last: a folder with a manifest is a complete artefact.
    write_manifest(staging, manifest)
    staging.chmod(0o755)  # mkdtemp makes it private; the service may run as another user
    # Renaming onto the empty reserved folder replaces it in one step.
    os.rename(staging, target)
    return target
