"""The chaos suite: the whole local pipeline on a long live feed, with faults injected on a seeded
schedule, then a reconciliation of every price event the stand-in sent against the curated tables.

`make chaos` runs the long version (`python -m chaos`); `make test` runs a short seeded one. Outside the
deployable units, as the benchmarks are.
"""
