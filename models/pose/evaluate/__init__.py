"""Evaluation: metrics as small pure functions, the per-action protocol,
the simple baselines, result tables, and scoring a checkpoint."""
