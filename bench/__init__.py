"""Benchmarks: run as a module from the repository root, `python3 -m bench.run` (see README.md)."""
