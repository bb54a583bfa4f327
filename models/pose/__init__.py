"""MLP-GraphWJ 3D human pose lifter."""
