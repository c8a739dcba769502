"""`ohlcv local up`: the local stack as a service, for producers in other processes or containers.

Prints its endpoints, delivers by the template's buffering hints, hands queued events to their
functions by the template's event source mappings and fires its schedules (checked every
`poll_every_s`), and stops gracefully on SIGINT/SIGTERM: intake closes, every buffer is delivered, the
last events are carried through (compacted), then it exits 0.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from local_stack.stack import LocalFaults, LocalStack, prepare_lake
from local_stack.twelvedata.server import TwelveDataStandIn, running_in_thread
from ohlcv_core import config
from ohlcv_core.errors import ConfigError
from ohlcv_core.recording import Recording

LOG = logging.getLogger(__name__)


def serve(lake: Path, spark: Callable[[], Any], *, port: int, poll_every_s: float,
          parameters: dict[str, str], faults: LocalFaults, twelvedata: Recording | None, twelvedata_port: int,
          stop: threading.Event | None = None, announce: Callable[[str], None] = print,
          started: Callable[[LocalStack], None] | None = None, glue_startup_s: float = 0.0) -> LocalStack:
    """Serve until `stop` is set; `started` is handed the stack once it serves (the chaos suite acts on it)."""
    stop = stop or threading.Event()
    made = not lake.exists()
    lake = prepare_lake(lake, fresh=False)
    try:
        stack = LocalStack(lake, spark, port=port, parameters=parameters, faults=faults,
                           glue_startup_s=glue_startup_s)
    except OSError as exc:  # the port (the lake's own errors are said as they are, by prepare_lake)
        if made:  # nothing was served: leave no lake behind
            shutil.rmtree(lake, ignore_errors=True)
        raise ConfigError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    stack.start()
    if started is not None:
        started(stack)
    try:
        with contextlib.ExitStack() as services:
            if twelvedata is not None:
                stand_in = services.enter_context(_stand_in(twelvedata, twelvedata_port))
                announce(f"Twelve Data stand-in: {stand_in.ws_url}  REST {stand_in.rest_url}/time_series")
                stack.tasks.endpoints.update({config.ENV_WS_URL: stand_in.ws_url,
                                              config.ENV_REST_URL: stand_in.rest_url})
            for name in stack.streams:
                announce(f"Firehose endpoint:    {stack.firehose.url}  stream {name}")
            for task in stack.tasks.definitions.values():
                environment = " ".join(f"{k}={shlex.quote(v)}"
                                       for k, v in stack.tasks.environment(task.logical_id).items())
                announce(f"task {task.family}: {environment} {shlex.join(stack.tasks.command(task.logical_id))}")
            announce(f"status:               ohlcv local status --port {stack.firehose.url.rsplit(':', 1)[1]}")
            announce(f"lake:                 {stack.lake}")
            while not stop.wait(poll_every_s):
                stack.poll()
            announce("stopping: intake closed, delivering and compacting what was accepted ...")
            stack.close_intake()
            stack.settle()
    finally:
        stack.stop()
    announce("stopped")
    return stack


@contextlib.contextmanager
def _stand_in(recording: Recording, port: int) -> Iterator[TwelveDataStandIn]:
    with running_in_thread(TwelveDataStandIn(recording, speed=1.0, close_at_end=False), port=port) as stand_in:
        yield stand_in


def stop_on_signals(stop: threading.Event) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
