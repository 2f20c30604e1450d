"""The model artefact: ``models/<name>/<version>/`` holding ``model.onnx`` and ``manifest.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec
from msgspec import Struct

from service.errors import ModelUnavailable
from service.model import encoding

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.onnx"
# The least share of the exact top 20 an artefact's item index must find to be published.
RECALL_TARGET = 0.95
# The model up to its item scores, for candidate retrieval (service.model.retrieval).
ENCODER_FILE = "encoder.onnx"
# models/<name>/CURRENT names the version being served; `witryna publish` switches it.
CURRENT_FILE = "CURRENT"


class FeatureSpec(Struct, kw_only=True):
    """How inputs were encoded; the service refuses an artefact that disagrees with its encoder."""

    encoding_version: int
    features: list[str]
    event_types: list[str]
    channels: list[str]
    intents: list[str]
    max_len: int
    top_k: int
    input_name: str = "events"
    outputs: list[str] = msgspec.field(
        default_factory=lambda: ["intent_probs", "top_scores", "top_items"]
    )


class RetrievalSpec(Struct, kw_only=True):
    """An artefact's item index (``service.model.item_index``), checked at export: scoring
    the ``candidates`` the index finds reading ``breadth`` of its lists keeps
    ``recall_at_20`` of the top 20 that scoring every item gives, on ``probes`` histories of
    ``measured_on`` (held-out sessions of the training data, or co-visitation walks when
    the checkpoint holds none) that tuning did not see."""

    candidates: int
    breadth: int
    recall_at_20: float
    probes: int
    measured_on: str = "co-visitation walks"
    parity_max_abs_diff: float = 0.0
    encoder_sha256: str = ""


class Manifest(Struct, kw_only=True):
    name: str
    version: str
    created: str
    items: list[str]
    categories: list[str]
    feature_spec: FeatureSpec
    popular_items: list[str]
    metrics: dict[str, float] = msgspec.field(default_factory=dict)
    data_fingerprint: str = ""
    onnx_sha256: str = ""
    parity_max_abs_diff: float = 0.0
    # "fp16": weights and arithmetic in half precision (for GPUs), inputs and outputs as fp32.
    precision: Literal["fp32", "fp16"] = "fp32"
    # How often, in the newest training sessions, the next item was one not seen before them:
    # the share of the next item's chance that catalogue items new to the model get
    # (service.decision.newcomers). 0 in artefacts made before the category output.
    new_item_share: float = 0.0
    # Present when the artefact ships the encoder, item tables and index beside the graph.
    retrieval: RetrievalSpec | None = None

    def vocabulary(self) -> encoding.Vocabulary:
        return encoding.Vocabulary(self.items, self.categories)


def expected_spec(max_len: int, top_k: int) -> FeatureSpec:
    """The feature spec of this encoder; training writes it, serving compares against it."""
    return FeatureSpec(
        encoding_version=encoding.ENCODING_VERSION,
        features=list(encoding.FEATURES),
        event_types=list(encoding.EVENT_TYPES),
        channels=list(encoding.CHANNELS),
        intents=list(encoding.INTENTS),
        max_len=max_len,
        top_k=top_k,
    )


def check_compatible(manifest: Manifest) -> None:
    spec = manifest.feature_spec
    ours = expected_spec(spec.max_len, spec.top_k)
    for field in ("encoding_version", "features", "event_types", "channels", "intents"):
        if getattr(spec, field) != getattr(ours, field):
            raise ModelUnavailable(
                f"manifest {manifest.name}/{manifest.version} disagrees with this encoder "
                f"on feature_spec.{field}"
            )


_decoder = msgspec.json.Decoder(Manifest)
_encoder = msgspec.json.Encoder()


def read_manifest(artefact: Path) -> Manifest:
    try:
        manifest = _decoder.decode((artefact / MANIFEST_FILE).read_bytes())
    except (OSError, msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ModelUnavailable(f"cannot read {artefact / MANIFEST_FILE}: {exc}") from exc
    check_compatible(manifest)
    return manifest


def write_manifest(artefact: Path, manifest: Manifest) -> None:
    (artefact / MANIFEST_FILE).write_bytes(msgspec.json.format(_encoder.encode(manifest)) + b"\n")


def version_folders(root: Path) -> list[Path]:
    """A model's complete version folders, oldest first: they sort by their UTC timestamp
    names, and a folder holds a version once its manifest is written."""
    # Dot-folders are exports still being staged.
    return sorted(
        p for p in root.glob("*") if not p.name.startswith(".") and (p / MANIFEST_FILE).is_file()
    )


def latest_artefact(models_dir: Path, name: str) -> Path:
    """The newest version folder of a model."""
    root = models_dir / name
    versions = version_folders(root)
    if not versions:
        raise ModelUnavailable(f"no model artefact under {root}; run `make model`")
    return versions[-1]


def current_artefact(models_dir: Path, name: str) -> Path:
    """The published version when there is one, else the newest."""
    pointer = models_dir / name / CURRENT_FILE
    try:
        version = pointer.read_text().strip()
    except FileNotFoundError:
        return latest_artefact(models_dir, name)
    artefact = models_dir / name / version
    if not (artefact / MANIFEST_FILE).is_file():
        raise ModelUnavailable(f"{pointer} names {version!r}, which has no {MANIFEST_FILE}")
    return artefact
