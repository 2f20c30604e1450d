"""Publishing: check an artefact, then make it the current one with one rename.

`witryna publish` (service/cli/models.py) adds the catalogue check.

A running service polls the pointer and swaps models between requests (see
``Services.watch_model``), so publishing needs no restart.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from service.errors import ModelUnavailable
from service.model.manifest import CURRENT_FILE, MODEL_FILE, RECALL_TARGET, Manifest
from service.model.runtime import RETRIEVAL_MIN_ITEMS, ModelRuntime


def validate(
    artefact: Path,
    threads: int = 1,
    device: str = "cpu",
    retrieval_min_items: int = RETRIEVAL_MIN_ITEMS,
) -> ModelRuntime:
    """Load the artefact as the service would and run it once; raises ModelUnavailable."""
    runtime = ModelRuntime(artefact, threads, device, retrieval_min_items=retrieval_min_items)
    expected = runtime.manifest.onnx_sha256
    if expected:
        actual = hashlib.sha256((artefact / MODEL_FILE).read_bytes()).hexdigest()
        if actual != expected:
            raise ModelUnavailable(f"{artefact / MODEL_FILE} does not match the manifest's sha256")
    try:
        runtime.warm_up()
    except Exception as exc:  # ONNX Runtime raises its own untyped errors
        raise ModelUnavailable(f"{artefact} fails a trial run: {exc}") from exc
    return runtime


def short_recall(manifest: Manifest) -> str | None:
    """Why the artefact's item index is not to be published, if it finds too little."""
    spec = manifest.retrieval
    if spec is None or spec.recall_at_20 >= RECALL_TARGET:
        return None
    return (
        f"its item index finds {spec.recall_at_20:.3f} of the exact top 20 "
        f"(reading {spec.breadth} lists, on {spec.probes} {spec.measured_on}), "
        f"under {RECALL_TARGET}"
    )


def publish(models_dir: Path, name: str, version: str) -> Path:
    """Point ``models_dir/name/CURRENT`` at ``version`` once it validates."""
    validate(models_dir / name / version)
    return switch(models_dir, name, version)


def switch(models_dir: Path, name: str, version: str) -> Path:
    """Point ``models_dir/name/CURRENT`` at ``version`` in one rename: no reader sees half."""
    artefact = models_dir / name / version
    fd, tmp = tempfile.mkstemp(prefix=".CURRENT-", dir=artefact.parent)
    with os.fdopen(fd, "w") as pointer:
        pointer.write(f"{version}\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, artefact.parent / CURRENT_FILE)
    return artefact
