"""Kill and restart: SIGTERM mid-stream while Firehose takes nothing; the producer exits 0 with its
queue spooled; restarted with Firehose back, it drains the spool first: every spooled record arrives."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from feeds import DEMO_FEED
from local_stack.firehose.delivery import DeliveryStream
from local_stack.firehose.server import FirehoseEndpoint, FirehoseFaults
from local_stack.s3 import LocalS3
from local_stack.twelvedata.server import Faults, TwelveDataStandIn, running_in_thread
from ohlcv_core import config
from ohlcv_core.envelope import decode_envelopes
from ohlcv_core.recording import read_recording
from producers.spool import Spool
from tests.doubles import CapturingLambda
from tests.stream_settings import template_stream

STREAM = "restart"


def _producer(ws_url: str, endpoint: str, *options: str, symbols: str = "AAPL,EUR/USD,BTC/USD",
              env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`python -m producers` as the container runs it, output and errors together (no gap repair unless
    `--rest-url` is among the options)."""
    repair = [] if "--rest-url" in options else ["--no-repair"]
    return subprocess.Popen(
        [sys.executable, "-m", "producers", "--ws-url", ws_url, "--symbols", symbols, "--stream", STREAM,
         "--firehose-endpoint", endpoint, *repair, *options],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)


def _firehose(folder: Path, faults: FirehoseFaults | None = None
              ) -> tuple[FirehoseEndpoint, DeliveryStream, CapturingLambda]:
    """A started local Firehose endpoint with one stream (no transform: `capture` keeps what it delivers)."""
    settings = template_stream(name=STREAM, destination={"prefix": "landing/"}, dynamic_partitioning=False,
                               backup=None)
    capture = CapturingLambda()
    stream = DeliveryStream(settings, LocalS3(folder), invoke=capture)
    return FirehoseEndpoint({STREAM: stream}, faults=faults).start(), stream, capture


def _sigterm_after(process: subprocess.Popen[str], seconds: float) -> tuple[str, float]:
    """SIGTERM after `seconds`; the output, and how long the process took to end (killed if it hangs)."""
    try:
        time.sleep(seconds)
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        output, _ = process.communicate(timeout=60)
        return output, time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_sigterm_with_firehose_down_spools_and_a_restart_drains_it(tmp_path: Path) -> None:
    faults = FirehoseFaults(partial_failure_rate=1.0)  # Firehose takes nothing
    endpoint, stream, capture = _firehose(tmp_path / "s3", faults)
    spool_dir = tmp_path / "spool"
    try:
        with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED), speed=60)) as stand_in:
            first = _producer(stand_in.ws_url, endpoint.url, "--spool-dir", str(spool_dir), "--exit-on-close")
            output, took = _sigterm_after(first, 4)
            assert first.returncode == 0, output
            assert took < 20  # within the shutdown deadline
        spooled = [record for _, records in Spool(spool_dir, 1 << 30).batches() for record in records]
        assert spooled, output
        assert stream.stats.records_in == 0
        faults.partial_failure_rate = 0.0  # Firehose is back
        with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED), speed=0)) as stand_in:
            second = _producer(stand_in.ws_url, endpoint.url, "--spool-dir", str(spool_dir), "--exit-on-close")
            output, _ = second.communicate(timeout=60)
            assert second.returncode == 0, output
        stream.flush()
    finally:
        endpoint.stop()
    assert len(Spool(spool_dir, 1 << 30)) == 0
    delivered = capture.records
    assert delivered[: len(spooled)] == spooled  # the spool first, in order, then the new session
    assert len(delivered) > len(spooled)


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there once the socket closes


def test_sigterm_with_a_full_spool_and_firehose_gone_ends_within_the_deadline_and_counts_the_rest(
        tmp_path: Path) -> None:
    # GIVEN a producer streaming fast into a spool of 50 KB, with nothing listening where Firehose should be
    spool_dir = tmp_path / "spool"
    with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED), speed=40)) as stand_in:
        process = _producer(stand_in.ws_url, _closed_port(), "--spool-dir", str(spool_dir), "--spool-max-mb", "0.05",
                            "--shutdown-deadline", "4")
        # WHEN it is told to stop
        output, took = _sigterm_after(process, 6)
    # THEN it ends within its deadline (and a little for the interpreter), says how many records it could not
    # keep, and exits non-zero; everything it queued was spooled or counted
    assert took < 4 + 3, output[-3000:]
    assert process.returncode == 2, output[-3000:]
    said = [(int(q), int(r)) for q, r in re.findall(
        r"(\d+) quotes \((\d+) records\) were neither delivered nor spooled before", output)]
    assert len(said) == 1, output[-3000:]
    ((quotes, not_kept),) = said
    assert quotes >= not_kept  # said in quotes: a record packs one or more
    made = int(re.findall(r"records_made=(\d+)", output)[-1])
    spooled = sum(len(records) for _, records in Spool(spool_dir, 1 << 30).batches())
    assert not_kept > 0 and spooled > 0 and spooled + not_kept == made, output[-3000:]
    assert "Traceback" not in output


def test_sigterm_while_frames_flow_fast_always_ends_within_the_deadline(tmp_path: Path) -> None:
    # GIVEN a producer taking frames as fast as the stand-in sends them (the recording replayed at full
    # speed, again on every reconnect), into a working Firehose
    endpoint, _, _ = _firehose(tmp_path / "s3")
    took = []
    try:
        with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED), speed=0)) as stand_in:
            for attempt in range(5):
                process = _producer(stand_in.ws_url, endpoint.url, "--shutdown-deadline", "5",
                                    symbols="AAPL,EUR/USD,BTC/USD,MSFT")
                # WHEN SIGTERM comes while frames flow, at a different moment of the stream each time
                output, seconds = _sigterm_after(process, 2.5 + attempt * 0.37)
                took.append(seconds)
                # THEN it ends cleanly within its deadline, every time
                assert process.returncode == 0, output[-3000:]
                assert int(re.findall(r"envelopes_queued=(\d+)", output)[-1]) > 1000, output[-3000:]
    finally:
        endpoint.stop()
    assert max(took) < 5 + 2, took


def _catches(pid: int, signum: int) -> bool:
    """Whether the process has a handler for the signal yet (the kernel's SigCgt mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


@pytest.mark.parametrize("command", [[], ["backfill"]], ids=["stream", "backfill"])
def test_a_sigterm_while_the_producer_is_still_starting_is_a_stop_not_a_crash(tmp_path: Path,
                                                                               command: list[str]) -> None:
    # GIVEN a producer process the moment it holds SIGTERM: its first line, a second of imports before
    # the service is ready
    endpoint, _, _ = _firehose(tmp_path / "s3")
    try:
        with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED), speed=0)) as stand_in:
            options = (["--rest-url", stand_in.rest_url, "--symbols", "AAPL", "--interval", "1day",
                        "--start", "2023-08-24", "--end", "2023-08-24", "--stream", STREAM,
                        "--firehose-endpoint", endpoint.url, "--checkpoints", str(tmp_path / "checkpoints")]
                       if command else ["--ws-url", stand_in.ws_url, "--symbols", "AAPL", "--stream", STREAM,
                                        "--firehose-endpoint", endpoint.url, "--no-repair"])
            process = subprocess.Popen([sys.executable, "-m", "producers", *command, *options],
                                       env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
            deadline = time.monotonic() + 30
            while not _catches(process.pid, signal.SIGTERM) and time.monotonic() < deadline:
                pass  # polled without a pause: the signal must land inside the start-up second
            # WHEN ECS stops it there
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=60)
    finally:
        endpoint.stop()
    if command:
        # THEN the backfill, which keeps checkpoints and no handlers, ends by the signal as it always has
        assert process.returncode == -signal.SIGTERM, output
    else:
        # THEN the stream starts, sees the stop, and ends as every stop ends: exit 0, and says why
        assert process.returncode == 0, output
        assert "SIGTERM arrived while the producer was starting: stopping at once" in output, output
        assert "producer finished:" in output, output


def test_sigterm_with_a_firehose_call_that_never_answers_still_ends_at_the_deadline(tmp_path: Path) -> None:
    # GIVEN a "Firehose" that accepts connections and never answers (packets dropped on the way back)
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(64)
        endpoint = f"http://127.0.0.1:{blackhole.getsockname()[1]}"
        with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED), speed=20)) as stand_in:
            process = _producer(stand_in.ws_url, endpoint, "--spool-dir", str(tmp_path / "spool"),
                                "--shutdown-deadline", "4", symbols="AAPL,EUR/USD")
            # WHEN it is told to stop while its first call to Firehose hangs
            output, took = _sigterm_after(process, 3)
    # THEN it leaves at its deadline, says how many records are unconfirmed, and exits 2
    assert took < 4 + 2, (took, output[-3000:])
    assert process.returncode == 2, output[-3000:]
    (unconfirmed,) = [int(n) for n in re.findall(r"(\d+) records were not confirmed", output)]
    assert unconfirmed > 0


def test_sigterm_while_a_repair_waits_out_a_429_ends_within_the_deadline(tmp_path: Path) -> None:
    # GIVEN a producer whose scheduled gap repair is refused with 429 and waits for the next credit minute
    endpoint, _, _ = _firehose(tmp_path / "s3")
    try:
        stand_in = TwelveDataStandIn(read_recording(DEMO_FEED), speed=1, faults=Faults(rest_429_burst=1000))
        with running_in_thread(stand_in) as server:
            process = _producer(server.ws_url, endpoint.url, "--rest-url", server.rest_url, "--shutdown-deadline", "4",
                                env={config.ENV_REPAIR_EVERY_S: "0.5"})
            deadline = time.monotonic() + 30
            while stand_in.stats.rest_refused == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert stand_in.stats.rest_refused > 0
            # WHEN it is told to stop
            output, took = _sigterm_after(process, 0.5)
    finally:
        endpoint.stop()
    # THEN it ends cleanly within its deadline: the repair's wait does not hold the exit
    assert process.returncode == 0, output[-3000:]
    assert took < 4 + 2, output[-3000:]


def test_a_stopping_producer_forwards_every_frame_the_server_sent_before_its_reset_reply(tmp_path: Path) -> None:
    # GIVEN a producer streaming fast from the stand-in into a working Firehose
    endpoint, stream, capture = _firehose(tmp_path / "s3")
    try:
        stand_in = TwelveDataStandIn(read_recording(DEMO_FEED), speed=300, close_at_end=False)
        with running_in_thread(stand_in) as server:
            process = _producer(server.ws_url, endpoint.url, "--shutdown-deadline", "5",
                                symbols="AAPL,EUR/USD,BTC/USD,MSFT")
            # WHEN it is told to stop while frames flow
            output, _ = _sigterm_after(process, 3)
        stream.flush()
    finally:
        endpoint.stop()
    # THEN it asked the service to stop sending, read up to the reply, and forwarded every frame sent before
    assert process.returncode == 0, output[-3000:]
    replayed = [e["payload"] for r in capture.records for e in decode_envelopes(r)]
    prices = [p for p in replayed if b'"event":"price"' in p or b"timestamp" in p]
    assert stand_in.stats.frames_sent > 300, output[-3000:]
    assert len(prices) == stand_in.stats.frames_sent, output[-3000:]
    assert any(b'"reset-status"' in p for p in replayed)
