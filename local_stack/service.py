"""`ohlcv local up`: the local stack as a service, for producers in other processes or containers.

Prints its endpoints, delivers by the template's buffering hints, hands the raw zone's Object Created
events to the trigger code in batches by the template's event source mapping (checked every
`poll_every_s`), and stops gracefully on SIGINT/SIGTERM: intake closes, every buffer is delivered, the
last events are compacted.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from local_stack.stack import LocalFaults, LocalStack, prepare_lake
from local_stack.twelvedata.server import TwelveDataStandIn, running_in_thread
from ohlcv_core.recording import Recording

LOG = logging.getLogger(__name__)


def _compact(stack: LocalStack, *, force: bool = False) -> None:
    before = len(stack.compaction.runs)
    stack.events.poll(force=force)
    for run in stack.compaction.runs[before:]:
        LOG.info("compaction %s: %s in %.1f s", run.id, run.state, run.execution_time_s)


def serve(lake: Path, spark: Callable[[], Any], *, port: int, poll_every_s: float,
          parameters: dict[str, str], faults: LocalFaults, twelvedata: Recording | None, twelvedata_port: int,
          stop: threading.Event | None = None, announce: Callable[[str], None] = print) -> LocalStack:
    stop = stop or threading.Event()
    stack = LocalStack(prepare_lake(lake, fresh=False), spark, port=port, parameters=parameters, faults=faults)
    stack.start()
    with contextlib.ExitStack() as stack_of_services:
        if twelvedata is not None:
            stand_in = stack_of_services.enter_context(_stand_in(twelvedata, twelvedata_port))
            announce(f"Twelve Data stand-in: {stand_in.ws_url}  REST {stand_in.rest_url}/time_series")
        announce(f"Firehose endpoint:    {stack.firehose.url}  stream {stack.stream_settings.name}")
        announce(f"status:               ohlcv local status --port {stack.firehose.url.rsplit(':', 1)[1]}")
        announce(f"lake:                 {stack.lake}")
        try:
            while not stop.wait(poll_every_s):
                _compact(stack)
        finally:
            stack.stop()  # intake closes, every buffer is delivered
            _compact(stack, force=True)
    return stack


@contextlib.contextmanager
def _stand_in(recording: Recording, port: int) -> Iterator[TwelveDataStandIn]:
    with running_in_thread(TwelveDataStandIn(recording, speed=1.0, close_at_end=False), port=port) as stand_in:
        yield stand_in


def stop_on_signals(stop: threading.Event) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
