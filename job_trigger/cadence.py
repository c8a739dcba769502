"""When a job's next run may start: never beside a run that is going, at most one per interval.

Pure: the trigger hands in the job's recent runs (state, start time) and its clock. A batch that may
not start yet is deferred, not refused: its dates wait in one new message, delayed until the run may
start, so no receive of the original messages is spent on a busy job (the dead-letter queue is for what
truly failed), and every date touched meanwhile joins the next run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# Glue's states of a run that has not ended (a retry by Glue is a new run, WAITING or STARTING).
ACTIVE_STATES = frozenset({"STARTING", "RUNNING", "STOPPING", "WAITING"})
BUSY_RETRY_S = 60  # how soon dates deferred beside a running job look again
MAX_DELAY_S = 900  # SQS's longest DelaySeconds: a longer wait is deferred again when it comes back


def seconds_to_wait(runs: Iterable[tuple[str, float]], now_s: float, interval_s: float) -> float:
    """0 when a run may start now; else how long until it may. `runs`: (JobRunState, StartedOn epoch s)."""
    runs = list(runs)
    last_start = max((started for _, started in runs), default=None)
    until_interval = 0.0 if last_start is None else max(0.0, last_start + interval_s - now_s)
    if any(state in ACTIVE_STATES for state, _ in runs):
        return max(float(BUSY_RETRY_S), until_interval)
    return until_interval


def delay_seconds(wait_s: float) -> int:
    """The DelaySeconds of a deferred message: the wait, rounded up, within SQS's bound (at least 1)."""
    return max(1, min(MAX_DELAY_S, math.ceil(wait_s)))
