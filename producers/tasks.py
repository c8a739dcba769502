"""Stopping background tasks while something else is already unwinding; blocking calls that never hold
the exit."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

LOG = logging.getLogger(__name__)
T = TypeVar("T")


async def cancel_and_settle(tasks: list[asyncio.Task[Any]], what: str) -> None:
    """Cancel the tasks and wait for each to end. An error a task ended with is logged, not raised: the
    caller is already ending (normally, or with an error of its own that is the one to report)."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:
            LOG.exception("%s ended with an error while being stopped", what)


def _succeed(future: asyncio.Future[T], result: T) -> None:
    if not future.done():  # the awaiting task may have been cancelled meanwhile
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


async def in_daemon_thread(call: Callable[[], T]) -> T:
    """A blocking call (a REST request, a wait for the next credit minute) in a thread of its own that
    never holds the process's exit: `asyncio.to_thread`'s pool is joined when the loop closes, so a
    repair waiting out a 429 would keep a stopped producer alive past its deadline."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            outcome = functools.partial(_succeed, future, call())
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task, which raises it
            outcome = functools.partial(_fail, future, exc)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits for the answer
            loop.call_soon_threadsafe(outcome)

    threading.Thread(target=run, name="blocking-call", daemon=True).start()
    return await future
