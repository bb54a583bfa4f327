"""Plumbing shared by every model family and the benchmarks: atomic file
writes and run-directory locks, the allocator setting, Markdown tables."""
