"""`make bench`: one module per component (transform, producer, compaction), each measured against a
baseline in the same run and reported as ratios. Targets are reported, never asserted: timings are not
tests. Each also runs at a tiny scale inside `make test` (tests/functional/test_benchmarks.py).
Outside the deployable units: nothing here is shipped."""
