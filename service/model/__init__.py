"""The model at serving time: the encoding shared with training, ONNX Runtime, micro-batching,
the artefact's manifest and its validation."""
