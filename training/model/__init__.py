"""The model stage: the Transformer, its training (also under torchrun) and its ONNX export."""
