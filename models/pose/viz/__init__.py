"""Figures: pose stills and animations, training curves, per-joint errors."""
