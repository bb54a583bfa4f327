"""Lifting 2D keypoints to 3D: reading keypoint files, batched lifting,
and frame-by-frame streaming."""
