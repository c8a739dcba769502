"""The local EventBridge: pattern forms, schedules (rate and cron, UTC) and delivery to targets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from local_stack.events import LocalEventBus, Schedule, check_pattern, matches
from ohlcv_core.errors import ConfigError
from stack_tools.template import RuleSettings, RuleTarget


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Queue:
    def __init__(self) -> None:
        self.bodies: list[Any] = []

    def send(self, body: str) -> None:
        self.bodies.append(orjson.loads(body))


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("pattern", "event", "expected"), [
    ({"detail": {"state": ["FAILED", "TIMEOUT"]}}, {"detail": {"state": "FAILED"}}, True),
    ({"detail": {"state": ["FAILED"]}}, {"detail": {"state": "SUCCEEDED"}}, False),
    ({"detail": {"key": [{"prefix": "raw/"}]}}, {"detail": {"key": "raw/x"}}, True),
    ({"detail": {"key": [{"suffix": ".gz"}]}}, {"detail": {"key": "raw/x.gz"}}, True),
    ({"detail": {"state": [{"anything-but": ["SUCCEEDED"]}]}}, {"detail": {"state": "FAILED"}}, True),
    ({"detail": {"state": [{"anything-but": "FAILED"}]}}, {"detail": {"state": "FAILED"}}, False),
    ({"detail": {"error": [{"exists": False}]}}, {"detail": {"state": "FAILED"}}, True),
    ({"detail": {"error": [{"exists": True}]}}, {"detail": {"state": "FAILED"}}, False),
    ({"source": [{"equals-ignore-case": "AWS.GLUE"}]}, {"source": "aws.glue"}, True),
    ({"resources": ["arn:a"]}, {"resources": ["arn:b", "arn:a"]}, True),  # arrays match any element
    ({"detail": {"state": ["FAILED"]}}, {"detail": "FAILED"}, False),
    ({"missing": [None]}, {}, False),  # null matches a present null only
])
def test_patterns_match_as_eventbridge_matches(pattern: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    check_pattern(pattern, "rule")
    assert matches(pattern, event) is expected


@pytest.mark.parametrize("pattern", [{"state": "FAILED"}, {"n": [{"numeric": [">", 0]}]},
                                     {"k": [{"prefix": "a", "suffix": "b"}]}, ["x"]])
def test_a_pattern_the_local_bus_cannot_match_is_refused_at_start(pattern: Any) -> None:
    with pytest.raises(ConfigError):
        check_pattern(pattern, "rule")


def test_rate_and_cron_schedules_fire_when_aws_would() -> None:
    assert Schedule.parse("rate(5 minutes)").next_after(1000.0, started_s=1000.0) == 1300.0
    assert Schedule.parse("rate(1 hour)").next_after(4599.0, started_s=1000.0) == 4600.0
    weekdays_at_2130 = Schedule.parse("cron(30 21 ? * MON-FRI *)")
    saturday = _at("2026-12-05T10:00:00")
    assert weekdays_at_2130.next_after(saturday, saturday) == _at("2026-12-07T21:30:00")  # Monday
    every_15 = Schedule.parse("cron(0/15 * * * ? *)")
    assert every_15.next_after(_at("2026-12-02T11:15:00"), 0) == _at("2026-12-02T11:30:00")
    for bad in ("rate(0 minutes)", "rate(5 weeks)", "cron(61 * * * ? *)", "cron(* * *)", "at(2026-12-02T10:00:00)"):
        with pytest.raises(ConfigError):
            Schedule.parse(bad)


def test_a_schedule_puts_its_scheduled_event_or_its_input_on_the_target_each_period() -> None:
    clock = Clock(_at("2026-12-02T11:00:00"))
    queue = Queue()
    rules = [RuleSettings("Every5", "every-5", None, "rate(5 minutes)", (RuleTarget("t", "sqs", "Q"),)),
             RuleSettings("Hourly", "hourly", None, "cron(0 * * * ? *)",
                          (RuleTarget("t", "sqs", "Q", input='{"job": "backfill"}'),)),
             RuleSettings("Off", "off", None, "rate(1 minute)", (RuleTarget("t", "sqs", "Q"),), enabled=False)]
    bus = LocalEventBus(rules, queues={"Q": queue}, functions={}, clock=clock)
    assert bus.tick() == 0
    clock.now += 300
    assert bus.tick() == 1 and queue.bodies[-1]["detail-type"] == "Scheduled Event"
    assert queue.bodies[-1]["resources"] == ["arn:aws:events:us-east-1:000000000000:rule/every-5"]
    clock.now += 3300  # 12:00: both
    assert bus.tick() == 2 and {"job": "backfill"} in queue.bodies
    assert bus.tick() == 0  # nothing more until the next period


def test_a_lambda_target_is_invoked_asynchronously_and_an_unrun_target_is_counted() -> None:
    invoked: list[dict[str, Any]] = []
    rules = [RuleSettings("R", "r", {"source": ["aws.glue"]}, None,
                          (RuleTarget("f", "lambda", "F"), RuleTarget("e", "ecs", "Cluster")))]
    bus = LocalEventBus(rules, queues={}, functions={"F": invoked.append})
    bus.put({"source": "aws.glue", "id": "1"})
    bus.put({"source": "aws.s3", "id": "2"})
    bus.close()  # waits for the invocations already queued
    assert invoked == [{"source": "aws.glue", "id": "1"}]
    assert bus.stats.skipped == {"ecs": 1} and bus.stats.delivered == 1


def test_an_ecs_target_starts_its_task_and_one_that_cannot_start_is_counted() -> None:
    started: list[str] = []

    def refuse() -> None:
        raise ConfigError("no such image")

    rules = [RuleSettings("R", "r", {"source": ["aws.glue"]}, None,
                          (RuleTarget("a", "ecs", "Cluster", task_definition="Backfill"),
                           RuleTarget("b", "ecs", "Cluster", task_definition="Broken")))]
    bus = LocalEventBus(rules, queues={}, functions={},
                        tasks={"Backfill": lambda: started.append("Backfill"), "Broken": refuse})
    bus.put({"source": "aws.glue", "id": "1"})  # the failed start neither raises nor stops the other target
    assert started == ["Backfill"]
    assert bus.stats.delivered == 1 and bus.stats.invocation_failures == 1
