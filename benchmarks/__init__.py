"""Benchmark scripts: each prints its numbers and writes them to docs/benchmarks.md."""
