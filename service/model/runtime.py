"""The model at serving time: ONNX Runtime on CUDA when present, else on the CPU."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from service.errors import ModelUnavailable
from service.model import encoding
from service.model.manifest import ENCODER_FILE, MODEL_FILE, Manifest, read_manifest
from service.model.retrieval import ENCODER_OUTPUTS, ItemScorer
from service.schema import StoredEvent

log = logging.getLogger(__name__)

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
# Settings.retrieval_min_items' default: measured in bench/results (model-retrieval-*.md).
RETRIEVAL_MIN_ITEMS = 100_000

# Fastest first; ONNX Runtime falls back along the list for nodes a provider cannot run.
PREFERENCE = (TENSORRT, CUDA, CPU)


class Prediction(msgspec.Struct, frozen=True):
    intent_probs: npt.NDArray[np.float32]
    top_scores: npt.NDArray[np.float32]
    top_items: npt.NDArray[np.int64]
    # P(buy | incentive) - P(buy | no incentive) per row; None from artefacts made before it.
    uplift: npt.NDArray[np.float32] | None = None
    # [B, C] the next item's category, over the vocabulary's category ids; None from
    # artefacts made before it.
    category_probs: npt.NDArray[np.float32] | None = None


def choose_providers(device: str, available: list[str]) -> list[str]:
    if device == "cpu":
        return [CPU]
    chosen = [p for p in PREFERENCE if p in available or p == CPU]
    if device == "cuda" and CUDA not in chosen:
        raise ModelUnavailable(f"WITRYNA_DEVICE=cuda but ONNX Runtime offers only {available}")
    return chosen


class ModelRuntime:
    """One loaded artefact: its manifest, its vocabulary and an inference session."""

    def __init__(
        self,
        artefact: Path,
        threads: int,
        device: str,
        io_binding: bool | None = None,
        retrieval_min_items: int = RETRIEVAL_MIN_ITEMS,
    ) -> None:
        self.manifest: Manifest = read_manifest(artefact)
        self.vocab = self.manifest.vocabulary()
        self.max_len = self.manifest.feature_spec.max_len
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = choose_providers(device, ort.get_available_providers())
        spec = self.manifest.retrieval
        # The catalogue is scored through the index from this size; the full graph below it.
        self.retrieval = spec is not None and len(self.manifest.items) >= retrieval_min_items
        graph = artefact / (ENCODER_FILE if self.retrieval else MODEL_FILE)
        try:
            self._session: Any = ort.InferenceSession(
                str(graph), sess_options=options, providers=providers
            )
        except Exception as exc:  # ONNX Runtime raises its own untyped errors
            raise ModelUnavailable(f"cannot load {graph}: {exc}") from exc
        self.scorer: ItemScorer | None = None
        if spec is not None and self.retrieval:
            top_k = self.manifest.feature_spec.top_k
            self.scorer = ItemScorer(artefact, spec.candidates, spec.breadth, top_k, threads)
        self.provider: str = self._session.get_providers()[0]
        if self.provider != providers[0]:
            log.warning("asked for %s, ONNX Runtime fell back to %s", providers[0], self.provider)
        self._input = self.manifest.feature_spec.input_name
        self._outputs = self.manifest.feature_spec.outputs
        # On a GPU, binding inputs and outputs spares ONNX Runtime its per-run allocations.
        self.io_binding = self.provider != CPU if io_binding is None else io_binding
        log.info("model %s on %s", self.version, self.provider)
        if spec is not None and self.retrieval:
            log.info(
                "model %s scores candidates from its item index: %d of %d items a row, "
                "reading %d of its %d lists (recall %.3f)",
                self.version,
                spec.candidates,
                len(self.manifest.items),
                spec.breadth,
                self.scorer.index.lists if self.scorer else 0,
                spec.recall_at_20,
            )

    @property
    def version(self) -> str:
        return f"{self.manifest.name}/{self.manifest.version}"

    def encode_one(self, history: list[StoredEvent]) -> encoding.Encoded:
        """One sequence ``[n, features]`` of the most recent events, for the micro-batcher."""
        return encoding.encode_events(history[-self.max_len :], self.vocab)

    def encode(self, histories: list[list[StoredEvent]]) -> encoding.Encoded:
        return encoding.pad_left(
            [encoding.encode_events(h[-self.max_len :], self.vocab) for h in histories],
            self.max_len,
        )

    def predict(self, batch: encoding.Encoded) -> Prediction:
        if self.scorer is not None:
            return self.retrieve(batch)
        if self.io_binding:
            outputs = self._run_bound({self._input: batch}, self._outputs)
        else:
            outputs = self._session.run(self._outputs, {self._input: batch})
        named = dict(zip(self._outputs, outputs, strict=True))
        return Prediction(
            named["intent_probs"],
            named["top_scores"],
            named["top_items"],
            named.get("uplift"),
            named.get("category_probs"),
        )

    def retrieve(self, batch: encoding.Encoded, exact: bool = False) -> Prediction:
        """The split model's prediction: the encoder graph, then candidates from the index
        scored exactly (``exact``: every item, as the full graph would)."""
        if self.scorer is None:
            raise ModelUnavailable(f"{self.version} is not served through an item index")
        feed = self.scorer.feed(batch)
        if self.io_binding:
            outputs = self._run_bound(feed, list(ENCODER_OUTPUTS))
        else:
            outputs = self._session.run(list(ENCODER_OUTPUTS), feed)
        top_scores, top_items = self.scorer.finish(batch, outputs, exact)
        intent, uplift, categories = outputs[:3]
        return Prediction(intent, top_scores, top_items, uplift, categories)

    def _run_bound(self, feed: dict[str, Any], names: list[str]) -> list[Any]:
        binding = self._session.io_binding()
        for name, value in feed.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        for name in names:
            binding.bind_output(name)
        self._session.run_with_iobinding(binding)
        outputs: list[Any] = binding.copy_outputs_to_cpu()
        return outputs

    def warm_up(self) -> None:
        """Run once at start so that the first storefront request does not pay for lazy init."""
        first = encoding.FIRST_ID
        row = np.array([[first] + [1] * (len(encoding.FEATURES) - 1)], dtype=np.int64)
        for length in (1, self.max_len):
            self.predict(encoding.pad_left([row.repeat(length, axis=0)] * 2, self.max_len))
