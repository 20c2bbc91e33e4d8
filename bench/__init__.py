"""Benchmarks of the suite, each printed beside a raw baseline measured in the same run."""
