"""Stopping background tasks while unwinding: nothing raised, nothing dropped without a trace."""

from __future__ import annotations

import asyncio
import logging

import pytest

from producers.tasks import cancel_and_settle


def test_a_task_that_fails_as_it_is_stopped_is_logged_and_the_others_still_end(
        caplog: pytest.LogCaptureFixture) -> None:
    ended: list[str] = []

    async def fails_on_cancel() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            raise RuntimeError("flush failed") from None

    async def waits() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            ended.append("waits")

    async def main() -> None:
        tasks = [asyncio.create_task(fails_on_cancel()), asyncio.create_task(waits())]
        await asyncio.sleep(0)
        await cancel_and_settle(tasks, "a test task")
        assert all(task.done() for task in tasks)

    with caplog.at_level(logging.ERROR, logger="producers.tasks"):
        asyncio.run(main())
    assert ended == ["waits"]
    (record,) = caplog.records
    assert record.getMessage() == "a test task ended with an error while being stopped"
    assert record.exc_info is not None and "flush failed" in str(record.exc_info[1])
