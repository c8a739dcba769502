"""The local CloudWatch reader: EMF metric lines, the transform's refusals by reason, Glue runs."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import orjson
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from local_stack.cloudwatch import TAIL_BYTES, glue_runs, log_entries, logged_to, read_metrics, refusal_reasons
from ohlcv_core.emf import emf_line
from ohlcv_core.json_logs import JsonLineFormatter


def test_metrics_reasons_and_runs_are_read_from_the_logs(tmp_path: Path) -> None:
    producer = [emf_line("OhlcvEngine", 1_000 * t, {"service": "producer"},
                         {"MessagesReceived": (100.0 * t, "Count"), "Reconnects": (1.0, "Count")}) for t in (1, 2)]
    (tmp_path / "producer.log").write_text("\n".join([*producer, "not json", '{"half": ']) + "\n")
    (tmp_path / "transform.log").write_text(
        '{"message":"batch transformed","failed":{"not_json":2},"dropped":{"heartbeat":1}}\n'
        '{"message":"batch transformed","failed":{"not_json":1,"invalid_price":1},"dropped":{}}\n')
    stand_in = logging.getLogger("tests.local_glue")
    with logged_to(tmp_path / "glue" / "compact" / "jr_1.log", "compaction", [stand_in]):
        stand_in.info("run %s (attempt 0) with []", "jr_1")
        stand_in.info("run %s SUCCEEDED in %.3f s", "jr_1", 5.25)
    points = read_metrics(tmp_path)
    assert [(p.name, p.value, p.timestamp_ms) for p in points if p.name == "MessagesReceived"] == [
        ("MessagesReceived", 100.0, 1000), ("MessagesReceived", 200.0, 2000)]
    assert sum(p.value for p in points if p.name == "Reconnects") == 2
    assert refusal_reasons(tmp_path) == {"failed: not_json": 3, "failed: invalid_price": 1, "dropped: heartbeat": 1}
    (run,) = glue_runs(tmp_path)
    assert (run.job, run.run_id, run.state, run.seconds) == ("compact", "jr_1", "SUCCEEDED", 5.25)


def test_only_the_tail_of_a_large_log_is_read(tmp_path: Path) -> None:
    line = emf_line("OhlcvEngine", 1, {"service": "producer"}, {"MessagesReceived": (1.0, "Count")})
    lines = 2 * TAIL_BYTES // (len(line) + 1)
    (tmp_path / "producer.log").write_text((line + "\n") * lines)
    assert lines // 2 - 2 <= len(read_metrics(tmp_path)) <= lines // 2 + 1


def _formatted(formatter: logging.Formatter, **extra: str) -> dict[str, object]:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("producers.service", logging.ERROR, __file__, 7, "sent %d", (3,), sys.exc_info(),
                                   func="emit")
    record.__dict__.update(extra)
    line: dict[str, object] = orjson.loads(formatter.format(record))
    return line


def test_our_json_lines_have_the_keys_and_formats_of_the_lambdas_powertools_lines() -> None:
    ours = _formatted(JsonLineFormatter("producer"), symbol="AAPL")
    lambdas = _formatted(LambdaPowertoolsFormatter(service="producer"), symbol="AAPL")
    shared = ("level", "location", "message", "service", "symbol", "exception_name")
    assert {k: ours[k] for k in shared} == {k: lambdas[k] for k in shared}
    assert len(str(ours["timestamp"])) == len(str(lambdas["timestamp"]))
    assert str(ours["timestamp"]).endswith("+0000") and str(lambdas["timestamp"]).endswith("+0000")
    assert "ValueError: boom" in str(ours["exception"])


def test_log_lines_of_every_unit_are_filtered_by_their_fields(tmp_path: Path) -> None:
    # GIVEN a producer's, a Lambda's and a Glue run's log lines, each unit in its own log
    for path, service in (("ecs/producer.log", "producer"), ("trigger.log", "job_trigger"),
                          ("glue/compact/jr_1.log", "compaction")):
        logger = logging.getLogger(f"tests.{service}")
        with logged_to(tmp_path / path, service, [logger]):
            logger.info("started", extra={"dates": ["2023-08-24"]})
            logger.warning("slow", extra={"symbol": "AAPL"})
    with (tmp_path / "trigger.log").open("a") as log:
        log.write("plain text is no entry\n")
    # WHEN filtered as a Logs Insights query would: filter level = "WARNING"
    warnings = log_entries(tmp_path, {"level": "WARNING"})
    # THEN one line of each unit, with its fields
    assert sorted(e["service"] for e in warnings) == ["compaction", "job_trigger", "producer"]
    assert {e["symbol"] for e in warnings} == {"AAPL"}
    assert [e["message"] for e in log_entries(tmp_path, {"service": "producer"})] == ["started", "slow"]
