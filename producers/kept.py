"""How far back a restarted producer must repair: the receive time up to which every record was kept.

A record is kept once Firehose has it or the spool holds it (what `SpoolingSender.send` returns after).
What a SIGKILL takes is only what was not kept yet (the queue, the batch being built, the calls in
flight), all of it received after the last kept time. The time is written beside the spool every few
seconds (replaced whole: written aside, flushed, renamed), so on start the producer repairs from it
through REST, less a margin for the batches in flight, which may be confirmed out of order. One time
for all symbols: whatever symbol a lost event was of, it was received after it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

LOG = logging.getLogger(__name__)
MARKER_NAME = "kept-through.json"
# Batches in flight (three at most) confirm in any order; each takes at most the sink's retries.
IN_FLIGHT_MARGIN_MS = 120_000


class KeptThrough:
    def __init__(self, folder: Path) -> None:
        self.path = folder / MARKER_NAME
        self.kept_ms = 0
        self._saved_ms = 0

    def load(self) -> int | None:
        """The previous run's kept time, or None (a first start, or a marker that cannot be read: then
        there is nothing to say how far back to go, and the scheduled repair covers what it can)."""
        try:
            value = json.loads(self.path.read_bytes())["kept_through_ms"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            LOG.error("%s is unreadable (%s): no repair from the previous run", self.path, exc)
            return None
        return int(value) if isinstance(value, int) and value > 0 else None

    def repair_from_ms(self) -> int | None:
        kept = self.load()
        return None if kept is None else kept - IN_FLIGHT_MARGIN_MS

    def note(self, received_ms: Iterable[int]) -> None:
        self.kept_ms = max(self.kept_ms, *received_ms, 0)

    def save(self) -> None:
        """Write the kept time if it moved; a disk that refuses is logged, not fatal (the spool's own
        failures are what matters, and they are handled there)."""
        if self.kept_ms <= self._saved_ms:
            return
        partial = self.path.with_name(f".{MARKER_NAME}.partial")
        try:
            with open(partial, "w", encoding="utf-8") as out:
                json.dump({"kept_through_ms": self.kept_ms}, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, self.path)
        except OSError as exc:
            LOG.warning("could not write %s: %s", self.path, exc)
            return
        self._saved_ms = self.kept_ms
