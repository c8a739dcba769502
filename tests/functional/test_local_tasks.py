"""The template's ECS tasks in the local stack: the daily top-up's schedule fires, and the backfill task
runs as a process with the task definition's command and environment, its S3 checkpoints in the lake,
its key and endpoints the local stack's; `stop` ends a running task as ECS does (SIGTERM)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from feeds import DEMO_FEED
from local_stack.stack import LocalStack, prepare_lake
from local_stack.twelvedata.catalog import SeriesData, build_catalog
from local_stack.twelvedata.server import TwelveDataStandIn, running_in_thread
from ohlcv_core import config
from ohlcv_core.recording import read_recording

TOP_UP = {"DailyTopUp": "true", "DailyTopUpSchedule": "rate(1 hour)", "ProducerSymbols": "AAPL",
          "QualityAfterCompaction": "false"}
DAYS_AGO = 2


def _recent_minutes() -> SeriesData:
    """The demo recording's AAPL minutes (its REST answers), moved to DAYS_AGO days before today: what
    the top-up, asking for the last five days, finds."""
    recorded = build_catalog(read_recording(DEMO_FEED)).series[("AAPL", "1min")]
    shift = datetime.now(UTC).date() - timedelta(days=DAYS_AGO) - min(recorded.bars).date()
    moved = SeriesData(meta=dict(recorded.meta))
    for start, values in recorded.bars.items():
        local = datetime.strptime(values["datetime"], "%Y-%m-%d %H:%M:%S") + shift
        moved.bars[start + shift] = {**values, "datetime": local.strftime("%Y-%m-%d %H:%M:%S")}
    return moved


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[LocalStack, Clock, TwelveDataStandIn]]:
    clock = Clock()
    local = LocalStack(prepare_lake(tmp_path / "lake", fresh=True), lambda: None, parameters=TOP_UP,
                       clock=clock).start()
    with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED), close_at_end=False,
                                                             history=[_recent_minutes()]), port=0) as stand_in:
        local.tasks.endpoints.update({config.ENV_REST_URL: stand_in.rest_url, config.ENV_WS_URL: stand_in.ws_url})
        try:
            yield local, clock, stand_in
        finally:
            local.stop()


def test_the_schedule_runs_the_backfill_task_with_the_local_stacks_settings(stack: Any) -> None:
    local, clock, stand_in = stack
    # WHEN the schedule is not yet due, nothing runs; an hour on, it fires once
    assert local.bus.tick() == 0 and not local.tasks.runs
    clock.now += 3601
    assert local.bus.tick() == 1
    (run,) = local.tasks.runs
    assert run.process.wait(timeout=120) == 0, run.log.read_text(encoding="utf-8")[-2000:]
    # THEN it asked the stand-in for the last five days of both symbols' minutes, with the local key
    asked = {(r["symbol"], r["interval"]) for r in stand_in.stats.rest_log}
    assert asked == {("AAPL", "1min")}
    # AND its bars went through the local Firehose into the raw zone
    local.firehose.drain()
    assert list((local.lake / "s3").glob("*-raw-*/raw/kind=bar/dt=*/hour=*/*"))
    # AND its S3 checkpoints are in the raw bucket's folder of the lake
    environment = local.tasks.environment("BackfillTaskDefinition")
    assert environment[config.ENV_API_KEY] == "local" and config.ENV_API_KEY_SECRET_ID not in environment
    checkpoints = Path(environment[config.ENV_BACKFILL_CHECKPOINTS])
    assert checkpoints.is_relative_to(local.lake / "s3") and checkpoints.name == "backfill-checkpoints"
    assert any(checkpoints.iterdir())


def test_the_producer_task_runs_on_its_volumes_and_stops_on_sigterm(stack: Any) -> None:
    local, _, stand_in = stack
    environment = local.tasks.environment("ProducerTaskDefinition")
    assert environment[config.ENV_FIREHOSE_ENDPOINT] == local.firehose.url
    assert environment[config.ENV_FIREHOSE_STREAM] == "ohlcv-local-prices"
    spool = Path(environment[config.ENV_SPOOL_DIR])
    assert spool == local.lake / "tasks" / "ohlcv-local-producer" / "spool"
    run = local.tasks.run("ProducerTaskDefinition")
    deadline = time.monotonic() + 60
    while not stand_in.stats.connections and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stand_in.stats.connections, run.log.read_text(encoding="utf-8")[-2000:]
    local.tasks.stop()
    assert run.process.returncode == 0, run.log.read_text(encoding="utf-8")[-2000:]
    assert spool.is_dir()
