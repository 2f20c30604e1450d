"""``torch.onnx.export`` as every graph of an artefact is exported: through torch.export,
into one file, without the exporter's own noise."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import torch


def quiet_export(
    module: torch.nn.Module,
    example: tuple[torch.Tensor, ...],
    path: Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_shapes: dict[str, dict[int, Any]],
) -> None:
    """``torch.onnx.export`` through torch.export, into one file."""
    # torch.export's own deprecation noise and "torchvision is not installed" say nothing
    # about this model; keep them out of the export command's output.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*LeafSpec", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*shares the same shape constraints")
        torch.onnx.export(
            module,
            example,
            str(path),
            dynamo=True,
            external_data=False,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=dynamic_shapes,
            verbose=False,
        )
