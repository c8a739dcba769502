"""EventBridge on one machine: the template's rules, matched against the events the stand-ins emit (S3
Object Created, Glue Job State Change), and its schedules (rate and cron expressions), delivered to their
targets: a queue gets the event (or the rule's constant Input) as a message, a Lambda function is
invoked asynchronously, in order, by one worker. A target the local stack does not run (an ECS task, a
resource of another stack) is counted and logged as skipped, never silently dropped.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ohlcv_core.errors import ConfigError
from stack_tools.template import LOCAL_ACCOUNT, LOCAL_REGION, RuleSettings

LOG = logging.getLogger(__name__)
Invoke = Callable[[dict[str, Any]], Any]
ASYNC_QUEUE = 1000  # asynchronous invocations waiting for the worker; a full queue holds the publisher back

_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "prefix": lambda expected, value: isinstance(value, str) and value.startswith(str(expected)),
    "suffix": lambda expected, value: isinstance(value, str) and value.endswith(str(expected)),
    "equals-ignore-case": lambda expected, value: isinstance(value, str) and value.lower() == str(expected).lower(),
    "anything-but": lambda expected, value: value not in (expected if isinstance(expected, list) else [expected]),
}
_OPERATORS = frozenset({*_TESTS, "exists"})  # `exists` is about the key, not its value


def check_pattern(pattern: Any, where: str) -> None:
    """Refuse, at start-up, a pattern form the local bus would not match as EventBridge does."""
    if not isinstance(pattern, Mapping):
        raise ConfigError(f"{where}: an event pattern is an object, got {pattern!r}")
    for key, expected in pattern.items():
        if isinstance(expected, Mapping):
            check_pattern(expected, f"{where}.{key}")
        elif isinstance(expected, list):
            for option in expected:
                if isinstance(option, Mapping) and (len(option) != 1 or not set(option) <= _OPERATORS):
                    raise ConfigError(f"{where}.{key}: {option!r} is not a pattern the local bus matches "
                                      f"(one of {sorted(_OPERATORS)} per object)")
        else:
            raise ConfigError(f"{where}.{key}: a pattern's values are lists or objects, got {expected!r}")


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    for key, expected in pattern.items():
        present = isinstance(event, Mapping) and key in event
        value = event.get(key) if isinstance(event, Mapping) else None
        if isinstance(expected, Mapping):
            if not isinstance(value, Mapping) or not matches(expected, value):
                return False
        elif not any(_matches_one(option, value, present) for option in expected):
            return False
    return True


def _matches_one(option: Any, value: Any, present: bool) -> bool:
    if isinstance(value, list):  # a pattern value matches an array if it matches any element
        return any(_matches_one(option, v, present) for v in value)
    if not isinstance(option, Mapping):
        return present and bool(option == value)
    if "exists" in option:
        return bool(option["exists"]) == present
    ((operator, expected),) = option.items()
    return present and _TESTS[operator](expected, value)


# -- schedules ----------------------------------------------------------------------------------------
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}


def _cron_field(text: str, low: int, high: int) -> frozenset[int] | None:
    """One cron field as the values it allows; None for `*` or `?` (anything)."""
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            start, end = (int(v) for v in base.split("-", 1))
        else:
            start = int(base)
            end = high if step else start
        if not (low <= start <= end <= high):
            raise ValueError(f"{part} is outside {low}-{high}")
        values.update(range(start, end + 1, int(step) if step else 1))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    """When a rule fires: every `every_s` from its start, or on the minutes a cron expression allows (UTC)."""

    every_s: int | None = None
    minutes: frozenset[int] | None = None
    hours: frozenset[int] | None = None
    days: frozenset[int] | None = None
    months: frozenset[int] | None = None
    weekdays: frozenset[int] | None = None  # 1 = Sunday, as AWS counts

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        rate = _RATE.match(expression)
        if rate:
            count = int(rate.group(1))
            if count < 1:
                raise ConfigError(f"schedule {expression!r}: the rate must be positive")
            return cls(every_s=count * _UNIT_S[rate.group(2).rstrip("s")])
        cron = _CRON.match(expression)
        fields = cron.group(1).split() if cron else []
        if len(fields) != 6:
            raise ConfigError(f"schedule {expression!r} is neither rate(N unit) nor cron(6 fields); "
                              "at() is one-off and not run locally")
        names = {d: str(i) for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
        weekday = fields[4].upper()
        for day, number in names.items():
            weekday = weekday.replace(day, number)
        try:
            return cls(minutes=_cron_field(fields[0], 0, 59), hours=_cron_field(fields[1], 0, 23),
                       days=_cron_field(fields[2], 1, 31), months=_cron_field(fields[3], 1, 12),
                       weekdays=_cron_field(weekday, 1, 7))
        except ValueError as exc:
            raise ConfigError(f"schedule {expression!r}: {exc}") from exc

    def _allows(self, moment: datetime) -> bool:
        weekday = moment.isoweekday() % 7 + 1
        return all(allowed is None or value in allowed for allowed, value in (
            (self.minutes, moment.minute), (self.hours, moment.hour), (self.days, moment.day),
            (self.months, moment.month), (self.weekdays, weekday)))

    def next_after(self, now_s: float, started_s: float) -> float:
        if self.every_s is not None:
            return started_s + ((now_s - started_s) // self.every_s + 1) * self.every_s
        moment = datetime.fromtimestamp(now_s // 60 * 60, tz=UTC) + timedelta(minutes=1)
        for _ in range(366 * 24 * 60):  # a year of minutes: every valid expression fires within it
            if self._allows(moment):
                return moment.timestamp()
            moment += timedelta(minutes=1)
        raise ConfigError("the schedule never fires")


# -- the bus ------------------------------------------------------------------------------------------
@dataclass
class _Rule:
    settings: RuleSettings
    schedule: Schedule | None
    next_s: float | None = None
    fired: int = 0
    matched: int = 0


@dataclass
class BusStats:
    events: int = 0
    delivered: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # target kind -> count
    invocation_failures: int = 0


class LocalEventBus:
    def __init__(self, rules: list[RuleSettings], *, queues: Mapping[str, Any], functions: Mapping[str, Invoke],
                 tasks: Mapping[str, Callable[[], object]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """`tasks`: ECS task definition (logical id) -> what starts it, for rules whose target runs one."""
        self._queues = queues
        self._functions = functions
        self._tasks = tasks or {}
        self._clock = clock
        self._rules: list[_Rule] = []
        for rule in rules:
            if rule.event_pattern is not None:
                check_pattern(rule.event_pattern, rule.logical_id)
            self._rules.append(_Rule(rule, Schedule.parse(rule.schedule) if rule.schedule else None))
        self._started_s = clock()
        self.stats = BusStats()
        self._async: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(maxsize=ASYNC_QUEUE)
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, event: dict[str, Any]) -> None:
        """An event on the default bus (PutEvents, or a service's own)."""
        self.stats.events += 1
        for rule in self._rules:
            if rule.settings.enabled and rule.settings.event_pattern is not None \
                    and matches(rule.settings.event_pattern, event):
                rule.matched += 1
                self._deliver(rule.settings, event)

    def tick(self) -> int:
        """Fire the schedules that are due; returns how many fired."""
        now = self._clock()
        fired = 0
        for rule in self._rules:
            if rule.schedule is None or not rule.settings.enabled:
                continue
            if rule.next_s is None:
                rule.next_s = rule.schedule.next_after(self._started_s, self._started_s)
            if now >= rule.next_s:
                rule.fired += 1
                fired += 1
                rule.next_s = rule.schedule.next_after(now, self._started_s)
                self._deliver(rule.settings, self._scheduled_event(rule.settings, now))
        return fired

    @staticmethod
    def _scheduled_event(rule: RuleSettings, now: float) -> dict[str, Any]:
        return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                "account": LOCAL_ACCOUNT, "region": LOCAL_REGION,
                "time": datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "resources": [f"arn:aws:events:{LOCAL_REGION}:{LOCAL_ACCOUNT}:rule/{rule.name}"], "detail": {}}

    def _deliver(self, rule: RuleSettings, event: dict[str, Any]) -> None:
        for target in rule.targets:
            payload = orjson.loads(target.input) if target.input is not None else event
            lid = target.logical_id
            if target.kind == "sqs" and lid is not None and lid in self._queues:
                self._queues[lid].send(orjson.dumps(payload).decode())
            elif target.kind == "lambda" and lid is not None and lid in self._functions:
                self._start_worker()
                self._async.put((lid, payload))
            elif target.kind == "ecs" and target.task_definition is not None \
                    and target.task_definition in self._tasks:
                try:
                    self._tasks[target.task_definition]()
                except Exception as exc:  # noqa: BLE001 - a RunTask that fails is counted, as EventBridge counts it
                    self.stats.invocation_failures += 1
                    LOG.error("rule %s: task %s did not start: %s", rule.name, target.task_definition, exc)
                    continue
            else:
                self.stats.skipped[target.kind] = self.stats.skipped.get(target.kind, 0) + 1
                LOG.warning("rule %s: target %s (%s) is not run by the local stack; event %s skipped",
                            rule.name, target.id, target.kind, event.get("id"))
                continue
            self.stats.delivered += 1

    def _start_worker(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._invoke_loop, name="eventbridge-async", daemon=True)
                self._worker.start()

    def _invoke_loop(self) -> None:
        while (item := self._async.get()) is not None:
            logical_id, payload = item
            try:
                self._functions[logical_id](payload)
            except Exception as exc:  # noqa: BLE001 - logged and counted, as a failed async invocation
                self.stats.invocation_failures += 1
                LOG.error("asynchronous invocation of %s failed: %s", logical_id, exc)
            finally:
                self._async.task_done()

    def idle(self) -> bool:
        return self._async.unfinished_tasks == 0

    def close(self) -> None:
        """Finish the asynchronous invocations already queued, then stop the worker."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._async.put(None)
            worker.join(timeout=600)

    def status(self) -> list[dict[str, Any]]:
        return [{"name": r.settings.name, "pattern": r.settings.event_pattern is not None,
                 "schedule": r.settings.schedule, "matched": r.matched, "fired": r.fired} for r in self._rules]
