"""The pose model: configurations and presets, the mixer blocks, the full
MLP-GraphWJ network, and its checkpoint files."""
