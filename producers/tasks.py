"""Stopping background tasks while something else is already unwinding."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

LOG = logging.getLogger(__name__)


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
