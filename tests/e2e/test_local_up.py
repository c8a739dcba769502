"""`ohlcv local up` as a person runs it: records accepted, then Ctrl-C, and Ctrl-C again while the last
compaction runs on Spark: it still stops gracefully, with exit status 0 and no traceback, and what it
accepted is compacted."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from local_stack.net import free_port
from ohlcv_cli.main import main
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.envelope import encode_envelope
from producers.aws import firehose_client
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _status(port: int) -> dict[str, Any] | None:
    try:
        reply: dict[str, Any] = requests.get(f"http://127.0.0.1:{port}/_local/status", timeout=2).json()
        return reply
    except requests.RequestException:
        return None


def test_ctrl_c_while_spark_runs_still_stops_gracefully(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "ohlcv_cli", "local", "up", "--lake", str(tmp_path / "lake"),
                                "--port", str(port), "--poll-every", "0.2", "--replay-window",
                                # the stop is the subject: one Spark job (compaction) is enough to interrupt
                                "--parameter", "QualityAfterCompaction=false"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _status(port), "the local stack's endpoint", 120.0, every_s=0.2)
        # GIVEN records it accepted
        start = 1_692_888_600
        frames = [orjson.dumps({"event": "price", "symbol": "AAPL", "exchange": "NASDAQ", "timestamp": start + 5 * i,
                                "price": 177.0 + i / 100, "day_volume": 1_000 + i}).decode() for i in range(24)]
        stream = _status(port)["streams"][0]["name"]  # type: ignore[index]
        reply = firehose_client(DEFAULT_REGION, f"http://127.0.0.1:{port}").put_record_batch(
            DeliveryStreamName=stream, Records=[{"Data": encode_envelope(f, (start + 5 * i) * 1000, "twelvedata.ws")}
                                                for i, f in enumerate(frames)])
        assert reply["FailedPutCount"] == 0
        capsys.readouterr()
        assert main(["local", "status", "--port", str(port)]) == 0
        shown = capsys.readouterr().out
        assert f"stream {stream}: 24 in" in shown and "function ohlcv-local-compaction-trigger: 0 invocations" in shown
        assert "rule ohlcv-local-RawObjectCreatedRule" in shown and "rule ohlcv-local-DailyTopUpRule" in shown
        assert "glue jobs: ohlcv-local-check-quality, ohlcv-local-compact-bars" in shown
        # WHEN Ctrl-C: intake closes and the accepted records go through to compaction, on Spark ...
        process.send_signal(signal.SIGINT)
        wait_for(lambda: any(r["state"] == "RUNNING" for r in (_status(port) or {}).get("glue", {}).get("runs", [])),
                 "a compaction run on Spark", 120.0, every_s=0.2)
        # ... and Ctrl-C again while Spark runs
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # THEN it stopped as promised
    assert process.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert out.rstrip().endswith("stopped")
    # AND the records it had accepted are in the curated zone
    curated = tmp_path / "lake" / "s3" / "ohlcv-local-curated-000000000000" / "bars_1m"
    assert list(curated.glob("dt=2023-08-24/symlink.txt"))
