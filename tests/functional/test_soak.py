"""The soak at a tiny scale (`make soak` runs ten minutes at 5,000 frames a second): it keeps working,
and every SIGTERM of a producer taking frames ends cleanly within the deadline."""

from __future__ import annotations

from pathlib import Path

from chaos.soak import SoakSettings, format_soak, run_soak


def test_a_tiny_soak_stops_in_time_every_time_and_firehose_takes_what_was_sent(tmp_path: Path) -> None:
    settings = SoakSettings(seconds=14, per_second=100, sigterms=1, drops=1, shutdown_deadline_s=4)
    report = run_soak(settings, tmp_path)
    text = format_soak(report)
    assert report.ok, text
    assert len(report.stops) == 2 and report.drops >= 1 and report.rss_mib, text
    assert report.quotes_in >= 0.9 * report.frames_sent > 0 and report.records_in < report.quotes_in, text
