"""Witryna's training side: simulate or read events, train in PyTorch, export to ONNX."""
