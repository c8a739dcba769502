"""The soak: the producer against the live stand-in at thousands of frames a second, into a Firehose
that throttles and fails records, with WebSocket drops; first one process for half the time (its memory
sampled), then SIGTERM after SIGTERM, each followed by a start on the same spool. Reports the memory
over time, every stop's duration and exit status, and what Firehose accepted against what was sent."""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from chaos.feed import live_feed
from chaos.harness import ProducerProcess, producer_env, wait_for
from local_stack.firehose.server import FirehoseFaults
from local_stack.firehose.standalone import STREAM, firehose_process
from local_stack.twelvedata.server import TwelveDataStandIn, running_in_thread
from ohlcv_core.envelope import envelope_starts


@dataclass(frozen=True)
class SoakSettings:
    seconds: int = 600
    per_second: float = 1250.0  # per symbol: 5,000 frames a second for the feed's four
    sigterms: int = 20
    steady_share: float = 0.5   # of the time, one process whose memory is sampled
    drops: int = 4              # WebSocket drops during the steady part
    shutdown_deadline_s: float = 8.0
    throttle_rate: float = 0.02
    partial_failure_rate: float = 0.02
    seed: int = 5


@dataclass
class SoakReport:
    settings: SoakSettings
    rss_mib: list[tuple[float, float]] = field(default_factory=list)  # (seconds into the run, MiB)
    stops: list[tuple[float, int | None]] = field(default_factory=list)  # (seconds, exit status)
    frames_sent: int = 0
    records_in: int = 0  # Firehose records: a pack of quotes is one
    quotes_in: int = 0  # envelopes in what Firehose wrote
    drops: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(code == 0 and took <= self.settings.shutdown_deadline_s + 2 for took, code in self.stops)


def _rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_soak(settings: SoakSettings, workdir: Path) -> SoakReport:
    """The producer for `seconds` at `per_second` frames a second per symbol: half of it one process (memory
    sampled, WebSocket drops), then `sigterms` stops, each followed by a start on the same spool."""
    report = SoakReport(settings)
    rng = random.Random(settings.seed)
    now = time.time()
    feed = live_feed(int(now), settings.seconds + 30, per_second=settings.per_second, seed=settings.seed)
    stand_in = TwelveDataStandIn(feed.recording, speed=1.0, live=True, close_at_end=False)
    faults = FirehoseFaults(throttle_rate=settings.throttle_rate, partial_failure_rate=settings.partial_failure_rate,
                            seed=settings.seed)
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ohlcv-soak-") as folder:
        with firehose_process(Path(folder), faults) as endpoint, running_in_thread(stand_in):
            producer = ProducerProcess(
                ["--ws-url", stand_in.ws_url, "--symbols", ",".join(feed.recording.header.symbols), "--stream", STREAM,
                 "--firehose-endpoint", endpoint, "--no-repair", "--spool-dir", str(workdir / "spool"),
                 "--shutdown-deadline", str(settings.shutdown_deadline_s)],
                producer_env(0), workdir / "logs")
            started = time.time()
            producer.start()
            try:
                steady_end = started + settings.seconds * settings.steady_share
                steady_s = steady_end - started
                drop_at = sorted(rng.uniform(started + min(20.0, steady_s * 0.3),
                                             steady_end - min(10.0, steady_s * 0.2)) for _ in range(settings.drops))
                while time.time() < steady_end:
                    time.sleep(5)
                    rss = _rss_mib(producer.pid)
                    if rss is not None:
                        report.rss_mib.append((round(time.time() - started, 1), round(rss, 1)))
                    while drop_at and time.time() >= drop_at[0]:
                        drop_at.pop(0)
                        report.drops += stand_in.act(stand_in.drop_all())
                every = (started + settings.seconds - time.time()) / settings.sigterms
                for _ in range(settings.sigterms):
                    time.sleep(max(0.0, every * rng.uniform(0.6, 1.0)))
                    ended = producer.terminate(settings.shutdown_deadline_s)
                    report.stops.append((round(ended.stop_seconds or 0.0, 2), ended.exit_code))
                    connections = stand_in.stats.connections
                    producer.start()
                    # stopped only once it streams: a process still importing has accepted nothing, and has no
                    # handler yet (SIGTERM's default ends it)
                    wait_for(lambda: stand_in.stats.connections > connections, 30)  # noqa: B023 - used at once
                ended = producer.terminate(settings.shutdown_deadline_s)
                report.stops.append((round(ended.stop_seconds or 0.0, 2), ended.exit_code))
            finally:
                if producer.alive():  # the soak failed on the way: leave no producer behind
                    producer.kill()
            report.frames_sent = stand_in.stats.frames_sent
            status = requests.get(f"{endpoint}/_local/status", timeout=10).json()
            report.records_in = sum(s["records_in"] for s in status["streams"])
            report.seconds = round(time.time() - started, 1)
        # the endpoint has stopped: every buffer it held is written
        report.quotes_in = sum(len(envelope_starts(path.read_bytes())) for path in Path(folder).rglob("*")
                               if path.is_file())
    return report


def format_soak(report: SoakReport) -> str:
    s = report.settings
    rss = [mib for _, mib in report.rss_mib]
    warm = [mib for at, mib in report.rss_mib if at >= 30] or rss
    took = [t for t, _ in report.stops]
    lines = [f"soak: {report.seconds:.0f} s, {report.frames_sent:,} frames sent "
             f"({report.frames_sent / max(report.seconds, 1):,.0f}/s), {report.records_in:,} records "
             f"({report.quotes_in:,} quotes) accepted by Firehose ({s.throttle_rate:.0%} of calls throttled, "
             f"{s.partial_failure_rate:.0%} of records failed), "
             f"{report.drops} WebSocket drops",
             f"memory of the steady producer (RSS, MiB, every 5 s for {s.seconds * s.steady_share:.0f} s): first "
             f"{rss[0] if rss else '-'}, after 30 s {warm[0] if warm else '-'}, last {rss[-1] if rss else '-'}, "
             f"max {max(rss) if rss else '-'}",
             f"SIGTERMs: {len(report.stops)}, deadline {s.shutdown_deadline_s:g} s; stop took median "
             f"{sorted(took)[len(took) // 2]:.2f} s, worst {max(took):.2f} s; exit statuses "
             f"{sorted({code for _, code in report.stops}, key=str)}",
             "RESULT: " + ("PASS" if report.ok else "FAIL")]
    return "\n".join(lines)
