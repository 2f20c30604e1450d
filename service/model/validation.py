"""`witryna publish`: check an artefact, then make it the current one with one rename.

A running service polls the pointer and swaps models between requests (see
``Services.watch_model``), so publishing needs no restart.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from pathlib import Path

from service.errors import ModelUnavailable
from service.model.manifest import CURRENT_FILE, MODEL_FILE, latest_artefact
from service.model.runtime import ModelRuntime
from service.settings import Settings


def validate(artefact: Path, threads: int = 1, device: str = "cpu") -> ModelRuntime:
    """Load the artefact as the service would and run it once; raises ModelUnavailable."""
    runtime = ModelRuntime(artefact, threads=threads, device=device)
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


def publish(models_dir: Path, name: str, version: str) -> Path:
    """Point ``models_dir/name/CURRENT`` at ``version`` once it validates."""
    artefact = models_dir / name / version
    validate(artefact)
    fd, tmp = tempfile.mkstemp(prefix=".CURRENT-", dir=artefact.parent)
    with os.fdopen(fd, "w") as pointer:
        pointer.write(f"{version}\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, artefact.parent / CURRENT_FILE)
    return artefact


def command(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    models_dir = Path(args.models_dir or settings.models_dir)
    name = args.name or settings.model_name
    version = args.version or latest_artefact(models_dir, name).name
    artefact = publish(models_dir, name, version)
    print(f"published {name}/{version} ({artefact})")
    return 0
