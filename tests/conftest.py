from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stack_tools.template import StackTemplate

# The handlers build Powertools' Logger and Metrics at import, from POWERTOOLS_* (as on Lambda). A test
# that imports a handler in-process runs with the namespace the stack gives every function; each
# function's own environment is proven by running it in its sandbox (tests/functional/test_registry.py).
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", StackTemplate().parameters["MetricsNamespace"])


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--refresh-screenshots", action="store_true",
                     help="write the dashboard test's screenshots to docs/assets/dashboards/ (`make screenshots`) "
                          "instead of a temporary folder, so a plain run leaves the work tree as it was")


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for the whole run (starting a JVM costs seconds)."""
    from glue_jobs.session import local_session

    session = local_session("ohlcv-tests", shuffle_partitions=2)
    yield session
    session.stop()


# The lanes, fastest first: a unit failure shows in seconds, not after the end-to-end runs. `make check`
# runs the first lane alone.
LANES = ("unit", "functional", "e2e")
# Markers follow from what a test uses, never set by hand: a test that asks for the Spark session (itself
# or through a fixture of its) is `spark`; a test under tests/e2e is `e2e`.
FIXTURE_MARKERS = {"spark": "spark"}


def _lane(item: pytest.Item) -> str:
    parts = Path(str(item.path)).relative_to(Path(__file__).parent).parts
    return parts[0] if parts and parts[0] in LANES else LANES[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        lane = _lane(item)
        used = {marker for fixture, marker in FIXTURE_MARKERS.items() if fixture in getattr(item, "fixturenames", ())}
        if lane == "unit" and used:
            raise pytest.UsageError(f"{item.nodeid} uses {', '.join(sorted(used))}: a unit test needs no Spark (the "
                                    "fast lane, `make check`, runs them alone); move it to tests/functional")
        for marker in sorted(used | ({"e2e"} if lane == "e2e" else set())):
            item.add_marker(marker)
    items.sort(key=lambda item: LANES.index(_lane(item)))  # stable: each lane keeps its files' order
