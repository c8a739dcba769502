"""The seeded fault schedule: which faults, in which order, with which pauses between them.

Faults that come and go run one after another (each waits for the previous one to be over, so that
their effects can be told apart in the report); the order and the pauses come from the seed. Faults
that last the whole run (Firehose throttling and partial failures, transform errors, a small spool
disk) are set at the start.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["ws_drop", "ws_stall", "control_frames", "rest_429", "producer_sigterm", "producer_sigkill",
                    "stack_restart", "s3_events_again", "compaction_crash", "spool_read_only"]
FAULT_KINDS: tuple[FaultKind, ...] = ("ws_drop", "ws_stall", "control_frames", "rest_429", "producer_sigterm",
                                      "producer_sigkill", "stack_restart", "s3_events_again", "compaction_crash",
                                      "spool_read_only")
# What the design says absorbs each fault (the report prints it beside what was measured).
ABSORBED_BY: dict[str, str] = {
    "ws_drop": "reconnect with backoff; the missed window repaired from REST",
    "ws_stall": "frames held by the server arrive late; nothing is skipped",
    "control_frames": "read as events, never exceptions; forwarded and dropped or kept by the transform",
    "rest_429": "the repair is retried after the credit minute; a failed repair is counted and the schedule "
                "covers it again",
    "producer_sigterm": "intake closes, batches are sent or spooled within the deadline; the restart drains the "
                        "spool and repairs the gap from REST",
    "producer_sigkill": "what was spooled survives; what was in memory is lost (named below); the restart repairs "
                        "the minutes from REST",
    "stack_restart": "the stopping stack refuses new puts (503) after delivering what it acknowledged; the "
                     "producer retries, spools, then drains into the new stack",
    "s3_events_again": "compaction rebuilds a date whole: an event seen twice, or late, changes nothing",
    "compaction_crash": "publication by manifest: readers keep the last published state; Glue's retry (or the "
                        "failed-run redrive) completes it",
    "spool_read_only": "a spool that cannot be written is passed over: batches go to Firehose as it takes them, "
                       "and while neither takes one, intake is held back; nothing is lost, and the producer "
                       "keeps streaming",
    "firehose_throttling": "the producer retries throttled calls and failed records with capped, jittered backoff",
    "transform_errors": "Firehose retries the Lambda; what still fails lands under the error prefix (redrivable)",
    "spool_disk": "a spool that cannot take a batch holds intake back (backpressure) instead of dropping it",
}


@dataclass(frozen=True)
class Step:
    kind: FaultKind
    pause_s: float  # before the fault
    seconds: float  # how long it lasts, where that applies (a stall, a producer's time down)


def plan(seed: int, *, rounds: int = 1, pause_s: tuple[float, float] = (3.0, 8.0)) -> list[Step]:
    """Every kind of fault `rounds` times, in a seeded order."""
    rng = random.Random(seed)
    kinds = [kind for _ in range(rounds) for kind in FAULT_KINDS]
    rng.shuffle(kinds)
    return [Step(kind, round(rng.uniform(*pause_s), 2), round(rng.uniform(1.0, 4.0), 2)) for kind in kinds]
