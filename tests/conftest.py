from __future__ import annotations

import os
from collections.abc import Iterator
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
