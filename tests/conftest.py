from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local Spark session for the whole run (starting a JVM costs seconds)."""
    from glue_jobs.session import local_session

    session = local_session("ohlcv-tests", shuffle_partitions=2)
    yield session
    session.stop()
