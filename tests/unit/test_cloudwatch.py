"""The local CloudWatch reader: EMF metric lines, the transform's refusals by reason, Glue runs."""

from __future__ import annotations

from pathlib import Path

from local_stack.cloudwatch import TAIL_BYTES, glue_runs, read_metrics, refusal_reasons
from ohlcv_core.emf import emf_line


def test_metrics_reasons_and_runs_are_read_from_the_logs(tmp_path: Path) -> None:
    producer = [emf_line("OhlcvEngine", 1_000 * t, {"service": "producer"},
                         {"MessagesReceived": (100.0 * t, "Count"), "Reconnects": (1.0, "Count")}) for t in (1, 2)]
    (tmp_path / "producer.log").write_text("\n".join([*producer, "not json", '{"half": ']) + "\n")
    (tmp_path / "transform.log").write_text(
        '{"message":"batch transformed","failed":{"not_json":2},"dropped":{"heartbeat":1}}\n'
        '{"message":"batch transformed","failed":{"not_json":1,"invalid_price":1},"dropped":{}}\n')
    glue = tmp_path / "glue" / "compact"
    glue.mkdir(parents=True)
    (glue / "jr_1.log").write_text("2026-12-03 10:00:00,250 INFO local_stack.glue: run jr_1 (attempt 0) with []\n"
                                   "2026-12-03 10:00:05,500 INFO local_stack.glue: run jr_1 SUCCEEDED in 5.250 s\n")
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
