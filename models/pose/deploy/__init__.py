"""Deployment: ONNX export of a checkpoint and the ONNX Runtime predictor."""
