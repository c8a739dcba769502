"""A bare delivery stream (the template's, without its transform or dynamic partitioning) served by a
process of its own, so that a producer under test does not share a CPU's GIL with it: for benchmarks and
soaks. `python -m local_stack.firehose.standalone --port P --folder F [--throttle-rate R] ...`; prints
"ready" once it serves; SIGTERM ends it."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from local_stack.firehose.delivery import DeliveryStream
from local_stack.firehose.server import FirehoseEndpoint, FirehoseFaults
from local_stack.net import free_port
from local_stack.s3 import LocalS3
from stack_tools.template import StackTemplate

STREAM = "bench"


@contextlib.contextmanager
def firehose_process(folder: Path, faults: FirehoseFaults | None = None) -> Iterator[str]:
    """The endpoint's URL while the process serves; its stream is named `STREAM` and writes under `folder`."""
    faults = faults or FirehoseFaults()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "local_stack.firehose.standalone", "--port", str(port), "--folder", str(folder),
         "--throttle-rate", str(faults.throttle_rate), "--partial-failure-rate", str(faults.partial_failure_rate),
         "--seed", str(faults.seed)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local_stack.firehose.standalone", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--throttle-rate", type=float, default=0.0)
    parser.add_argument("--partial-failure-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    stream = StackTemplate().delivery_stream()
    destination = dataclasses.replace(stream.destination, prefix="landing/", buffer_size_bytes=16 * 1024 * 1024)
    settings = dataclasses.replace(stream, name=STREAM, destination=destination, dynamic_partitioning=False,
                                   processor=None, backup=None)
    faults = FirehoseFaults(throttle_rate=args.throttle_rate, partial_failure_rate=args.partial_failure_rate,
                            seed=args.seed)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    endpoint = FirehoseEndpoint({STREAM: DeliveryStream(settings, LocalS3(args.folder), invoke=None)},
                                port=args.port, faults=faults).start()
    print("ready", flush=True)
    stop.wait()
    endpoint.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
