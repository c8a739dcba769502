"""A published bar the ruleset's withhold rules fail is kept out of the curated tables by compaction, the
tick bar of its minute stays, and the quality job lists it in the quarantine as withheld.

The transform refuses such bars at the door (tests/e2e/test_quality_history.py); these reach the raw zone
as a record an older transform let through would, written there directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from glue_jobs import check_quality, compact_bars
from ohlcv_core.envelope import encode_envelope
from ohlcv_core.normalize import Accepted, normalize
from tests.curated import published_rows
from tests.job_arguments import template_defaults

pytestmark = pytest.mark.spark

T0 = 1692888600  # 2023-08-24 14:50:00 UTC, 10:50 in New York
REST = {"meta": {"symbol": "AAPL", "interval": "1min", "currency": "USD", "exchange_timezone": "America/New_York",
                 "exchange": "NASDAQ", "mic_code": "XNGS", "type": "Common Stock"},
        "values": [{"datetime": f"2023-08-24 10:5{m}:00", "open": f"{177 + m}", "high": f"{177.5 + m}",
                    "low": f"{176.5 + m}", "close": f"{177.2 + m}", "volume": f"{1000 + m}"} for m in (2, 1, 0)],
        "status": "ok"}


def _accepted(envelope: bytes, arrival_ms: int) -> list[dict[str, Any]]:
    outcome = normalize(envelope, arrival_ms)
    assert isinstance(outcome, Accepted)
    return [orjson.loads(line) for line in outcome.to_json_lines().splitlines()]


def _raw_zone(raw: Path) -> None:
    ticks = [record for k in range(18) for record in _accepted(encode_envelope(orjson.dumps(
        {"event": "price", "symbol": "AAPL", "exchange": "NASDAQ", "timestamp": T0 + 10 * k,
         "price": 177.0 + k / 10, "day_volume": 5_000 + k}).decode(), (T0 + 10 * k) * 1000, "twelvedata.ws"),
        (T0 + 10 * k) * 1000 + 50)]
    bars = _accepted(encode_envelope(orjson.dumps(REST).decode(), (T0 + 300) * 1000, "twelvedata.rest.time_series",
                                     {"symbol": "AAPL", "interval": "1min"}), (T0 + 300) * 1000)
    impossible = next(b for b in bars if b["bar_datetime"] == "2023-08-24 10:51:00")
    impossible["high"] = impossible["close"] - 1  # below its own close
    for kind, records in (("price", ticks), ("bar", bars)):
        folder = raw / f"kind={kind}" / "dt=2023-08-24" / "hour=14"
        folder.mkdir(parents=True)
        (folder / "part-0").write_bytes(b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in records))


def test_an_impossible_published_bar_is_withheld_and_the_quarantine_says_so(spark: Any, tmp_path: Path) -> None:
    # GIVEN three published minutes over the ticks of the same minutes, the middle one impossible
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    _raw_zone(raw)
    # WHEN compaction runs
    compacted = compact_bars.main([*template_defaults(), "--JOB_NAME", "compact", "--dates", "2023-08-24",
                                   "--raw_location", f"{raw}/kind=price/", "--raw_bars_location", f"{raw}/kind=bar/",
                                   "--curated_location", f"{curated}/"], spark=spark)
    # THEN the impossible bar is held back with the rule it failed, and its minute keeps the tick bar
    assert compacted.bars_withheld == 1
    minutes = {r["bar_start"].strftime("%H:%M"): r for r in published_rows(curated)}
    assert {m: r["source"] for m, r in minutes.items()} == {"14:50": "rest", "14:51": "ticks", "14:52": "rest"}
    assert (minutes["14:51"]["open"], minutes["14:51"]["close"]) == (177.6, 178.1)
    (held,) = published_rows(curated, "withheld_bars")
    assert (held["table_name"], held["bar_start"].strftime("%H:%M"), held["rule"]) == (
        "bars_1m", "14:51", "high_bounds_bar")
    assert held["high"] == pytest.approx(177.2)
    # AND the quality job lists it as withheld, failing the rule, while the bars published pass it
    checked = check_quality.main([*template_defaults("QualityJob"), "--curated_location", f"{curated}/",
                                  "--quality_location", f"{curated}/quality/", "--dates", "2023-08-24",
                                  "--raw_location", f"{raw}/kind=price/", "--JOB_RUN_ID", "jr_test"], spark=spark)
    assert checked.withheld == 1 and "high_bounds_bar" in checked.blocking_failed
    quarantined = [r for r in published_rows(curated / "quality", "quarantine") if r["action"] == "withheld"]
    assert [(r["rule"], r["symbol"], r["bar_start"].strftime("%H:%M")) for r in quarantined] == [
        ("high_bounds_bar", "AAPL", "14:51")]
    assert quarantined[0]["reason"].startswith("the high is at least the open and the close")
