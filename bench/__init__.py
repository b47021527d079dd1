"""Benchmark helpers and peers for scripts/bench.py (peers run in .venv-bench)."""
