from __future__ import annotations

import json
from pathlib import Path

from producers.health import is_healthy, main, write_health
from producers.metrics import LatencySample, ProducerMetrics


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_emf_lines_hold_per_interval_deltas_and_per_symbol_counts() -> None:
    metrics = ProducerMetrics(clock=Clock())
    first = [json.loads(line) for line in metrics.lines({"RecordsSent": 10}, {"AAPL": 4}, {"QueueDepth": 3})]
    second = [json.loads(line) for line in metrics.lines({"RecordsSent": 25}, {"AAPL": 9, "EUR/USD": 1},
                                                         {"QueueDepth": 0})]
    assert first[0]["RecordsSent"] == 10 and second[0]["RecordsSent"] == 15
    assert second[0]["QueueDepth"] == 0
    directive = second[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "OhlcvEngine" and directive["Dimensions"] == [["service"]]
    by_symbol = {d["symbol"]: d["Messages"] for d in second[1:]}
    assert by_symbol == {"AAPL": 5, "EUR/USD": 1}
    assert second[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "symbol"]]


def test_latency_percentiles_come_from_a_bounded_sample() -> None:
    sample = LatencySample(size=100)
    for value in range(1, 10_001):
        sample.add(float(value))
    p50, p99 = sample.percentile(0.5), sample.percentile(0.99)
    assert p50 is not None and p99 is not None and 2_000 < p50 < 8_000 and p99 > p50
    sample.reset()
    assert sample.percentile(0.5) is None


def test_the_health_file_is_healthy_while_fresh(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    assert not is_healthy(path, 60)
    write_health(path, {"frames": 3})
    assert is_healthy(path, 60) and json.loads(path.read_text())["frames"] == 3
    assert not is_healthy(path, 60, now=path.stat().st_mtime + 61)
    assert main([str(path)]) == 0 and main([str(tmp_path / "absent")]) == 1


def test_dropped_counts_every_quote_received_and_not_kept() -> None:
    import boto3

    from producers.firehose_sink import FirehoseSink
    from producers.live import LiveStats
    from producers.main import Reporter
    from producers.sender import SpoolingSender
    from producers.service import ProducerStats
    from producers.settings import ProducerSettings

    # GIVEN a frame too large to send and two records of 40 quotes left unsent at the shutdown deadline
    sink = FirehoseSink(boto3.client("firehose", region_name="us-east-1", aws_access_key_id="k",
                                     aws_secret_access_key="s"), "prices")
    sender = SpoolingSender(sink, None)
    sender.stats.records_not_kept, sender.stats.quotes_not_kept = 2, 40
    stats = ProducerStats(oversize_rejected=1)
    lines: list[str] = []
    settings = ProducerSettings.resolve(symbols=("AAPL",), stream_name="prices", api_key="k", environ={})
    reporter = Reporter(settings, ProducerMetrics(clock=Clock()), stats=stats,
                        live=LiveStats(), sink=sink, sender=sender, out=lines.append)
    # WHEN the minute's metrics are emitted
    reporter.emit()
    service = json.loads(lines[0])
    # THEN Dropped is their sum, each also under its own name
    assert (service["Dropped"], service["OversizeRejected"], service["QuotesNotKept"], service["RecordsNotKept"]) == (
        41, 1, 40, 2)
