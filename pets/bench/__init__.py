"""Benchmarks: one function per experiment, each returning a tidy pandas.DataFrame."""
