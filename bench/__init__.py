"""kmgen's benchmarks (issue 7): `python -m bench` prints every figure beside its peer."""
