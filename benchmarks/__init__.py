"""Benchmark scripts (run as ``python benchmarks/<name>.py``); a package so
that the tests import their functions as ``benchmarks.<name>``."""
