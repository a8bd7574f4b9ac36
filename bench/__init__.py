"""Benchmarks of the portal as it is served: `make bench` runs them through `bench/run.py`."""
