"""Experiments and benchmarks built on the library API (the clustering benchmark; later the paper figures)."""
