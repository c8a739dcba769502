"""`ohlcv simulate`: days of the stack's event machinery in seconds, on an injected clock.

What runs is the real thing, but for Spark: the template's EventBridge rules (`LocalEventBus`), its SQS
queues with their visibility timeouts, delays, receive counts and dead-letter queues (`LocalQueue`), its
event source mappings' batching (`LocalEventSource`) and both triggers' decision code
(`job_trigger.handler.handle_batch`, with the environment the template gives each function). Glue is a
model (`ModelGlue`): MaxConcurrentRuns from the template, a run's length from its start-up and the dates
and objects it takes, a "Glue Job State Change" event when it ends. Time is one clock that the loop moves
from one thing due to the next; nothing sleeps.

The workloads are S3 "Object Created" events as the delivery stream writes them (one object per raw
partition per buffer interval): a feed streaming around the clock, history loads paced as the backfill
paces them. The report says how many runs a day each job started, the longest wait from an object's
arrival to curated bars that include it, the Glue bill, the dead letters, and whether every date touched
was compacted by a run that started after its last object arrived, which is what a single clean run over
the whole raw zone would give, since a run rebuilds whole dates.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from job_trigger.handler import TriggerSettings, handle_batch, settings_from
from local_stack.events import LocalEventBus
from local_stack.s3 import object_created_event
from local_stack.sqs import LocalEventSource, LocalQueue
from ohlcv_core.keys import RAW_PREFIX
from stack_tools.cost import DAYS_A_MONTH, Prices, glue_run_cost
from stack_tools.template import GlueJobSettings, StackTemplate

LOG = logging.getLogger(__name__)
QUIET = logging.getLogger("ohlcv.simulate.trigger")
QUIET.setLevel(logging.ERROR)  # a deferral a minute for a week is the point, not news
DAY_S = 86_400
SIMULATION_START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday


class SimClock:
    def __init__(self, start_s: float) -> None:
        self.now = start_s

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class RunLength:
    """A Glue run: a wait for capacity (FLEX; not billed), then its start-up and its work (billed)."""

    wait_s: float = 60.0
    startup_s: float = 20.0
    per_date_s: float = 0.05  # a date of daily bars (compaction measured 1,000 dates in 50 s locally)
    per_object_s: float = 0.02  # reading a raw object

    def billed(self, dates: int, objects: int) -> float:
        return self.startup_s + self.per_date_s * dates + self.per_object_s * objects


@dataclass
class ModelRun:
    run_id: str
    job: str
    arguments: dict[str, str]
    started_s: float  # StartJobRun
    ends_s: float
    billed_s: float
    state: str = "RUNNING"

    def describe(self) -> dict[str, Any]:
        return {"Id": self.run_id, "JobName": self.job, "JobRunState": self.state, "Arguments": self.arguments,
                "StartedOn": self.started_s}


class ModelGlue:
    """Glue's StartJobRun, GetJobRun and GetJobRuns for the triggers, on the simulation's clock."""

    def __init__(self, jobs: Iterable[GlueJobSettings], clock: SimClock, length: RunLength,
                 objects_of: Callable[[str], int]) -> None:
        self.jobs = {job.name: job for job in jobs}
        self.clock, self.length, self._objects_of = clock, length, objects_of
        self.runs: list[ModelRun] = []
        self._ids = itertools.count(1)
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def start_job_run(self, *, JobName: str, Arguments: dict[str, str]) -> dict[str, Any]:
        job = self.jobs[JobName]
        if sum(1 for r in self.runs if r.job == JobName and r.state == "RUNNING") >= job.max_concurrent_runs:
            raise ClientError({"Error": {"Code": "ConcurrentRunsExceededException", "Message": "busy"}}, "StartJobRun")
        dates = [d for d in Arguments.get("--dates", "").split(",") if d]
        billed = self.length.billed(len(dates), sum(self._objects_of(d) for d in dates))
        run = ModelRun(f"jr_{next(self._ids):06d}", JobName, dict(Arguments), self.clock(),
                       self.clock() + self.length.wait_s + billed, billed)
        self.runs.append(run)
        return {"JobRunId": run.run_id}

    def get_job_run(self, *, JobName: str, RunId: str) -> dict[str, Any]:
        (run,) = [r for r in self.runs if r.run_id == RunId and r.job == JobName]
        return {"JobRun": run.describe()}

    def get_job_runs(self, *, JobName: str, MaxResults: int) -> dict[str, Any]:
        return {"JobRuns": [r.describe() for r in reversed(self.runs) if r.job == JobName][:MaxResults]}

    def next_end_s(self) -> float | None:
        return min((r.ends_s for r in self.runs if r.state == "RUNNING"), default=None)

    def advance(self) -> None:
        for run in self.runs:
            if run.state == "RUNNING" and run.ends_s <= self.clock():
                run.state = "SUCCEEDED"
                event = {"version": "0", "id": run.run_id, "detail-type": "Glue Job State Change",
                         "source": "aws.glue", "detail": {"jobName": run.job, "state": "SUCCEEDED",
                                                          "jobRunId": run.run_id, "severity": "INFO"}}
                for listener in self.listeners:
                    listener(event)


class QueueSqs:
    """SQS's SendMessage for a trigger, onto the simulation's queues (found by URL, as on AWS)."""

    def __init__(self, queues: Mapping[str, LocalQueue]) -> None:
        self._by_url = {q.settings.url: q for q in queues.values()}

    def send_message(self, *, QueueUrl: str, MessageBody: str, DelaySeconds: int) -> dict[str, Any]:
        return {"MessageId": self._by_url[QueueUrl].send(MessageBody, DelaySeconds).message_id}


# -- workloads: raw objects as the delivery stream writes them ------------------------------------------------

@dataclass(frozen=True)
class Arrival:
    at_s: float
    key: str
    workload: str

    @property
    def date(self) -> str:
        return self.key.split("dt=", 1)[1][:10]


def _key(kind: str, day: datetime, hour: int, sequence: int) -> str:
    return f"{RAW_PREFIX}kind={kind}/dt={day:%Y-%m-%d}/hour={hour:02d}/stream-1-{sequence:09d}"


def streaming(start: datetime, days: int, buffer_s: int) -> Iterator[Arrival]:
    """A feed around the clock (a 24/7 symbol among the default ones): every buffer interval, an object
    in the hour's partition (the symbols share it)."""
    for step in range(days * DAY_S // buffer_s):
        moment = start + timedelta(seconds=step * buffer_s)
        yield Arrival((moment - start).total_seconds() + buffer_s, _key("price", moment, moment.hour, step),
                      "streaming")


def history(at: timedelta, *, symbols: int, first: datetime, days: int, hourly: bool,
            partitions_per_interval: int, buffer_s: int, name: str) -> Iterator[Arrival]:
    """A backfill starting `at` into the simulation: each symbol's bars, one partition per day (daily bars)
    or per hour (intraday), at most `partitions_per_interval` partitions a buffer interval (its pacer)."""
    sequence = itertools.count()
    interval = 0
    for _ in range(symbols):
        partitions = [(first + timedelta(days=d), h) for d in range(days) for h in (range(24) if hourly else (0,))
                      if hourly or (first + timedelta(days=d)).weekday() < 5]
        for index in range(0, len(partitions), partitions_per_interval):
            interval += 1
            for day, hour in partitions[index:index + partitions_per_interval]:
                yield Arrival((at + timedelta(seconds=interval * buffer_s)).total_seconds(),
                              _key("bar", day, hour, next(sequence)), name)


# -- the run ------------------------------------------------------------------------------------------------

@dataclass
class Report:
    days: float
    runs_per_day: dict[str, float]
    longest_lag_s: dict[str, float]
    glue_usd: float
    glue_usd_per_month: float
    dead_letters: int
    deferrals: int
    touched_dates: int
    stale_dates: list[str] = field(default_factory=list)  # touched, but no run after their last object

    def lines(self) -> list[str]:
        out = [f"{self.days:g} days of objects; {self.touched_dates} dates touched"]
        out += [f"  {job}: {per_day:.1f} runs a day" for job, per_day in sorted(self.runs_per_day.items())]
        out += [f"  longest wait, object -> curated ({name}): {lag / 60:.1f} min"
                for name, lag in sorted(self.longest_lag_s.items())]
        out += [f"  Glue: ${self.glue_usd:.2f} in all, ${self.glue_usd_per_month:.2f} a month at this week's rate",
                f"  deferrals {self.deferrals}, dead letters {self.dead_letters}, "
                f"dates left stale {len(self.stale_dates)}"]
        return out


class Simulation:
    """The template's rules, queues, mappings and triggers, a model of Glue, and one clock."""

    def __init__(self, start: datetime, parameters: Mapping[str, str] | None, length: RunLength,
                 objects: Counter[str]) -> None:
        self.template = template = StackTemplate(parameters=parameters)
        self.start = start
        self.clock = SimClock(start.timestamp())
        settings = {q.logical_id: q for q in template.queues()}
        self.queues: dict[str, LocalQueue] = {}
        for lid, queue in sorted(settings.items(), key=lambda item: bool(item[1].dead_letter_queue)):
            dead_letters = self.queues[queue.dead_letter_queue] if queue.dead_letter_queue else None
            self.queues[lid] = LocalQueue(queue, dead_letters=dead_letters, clock=self.clock)
        self.glue = ModelGlue(template.glue_jobs(), self.clock, length, objects_of=lambda d: objects[d])
        self.bus = LocalEventBus(template.rules(), queues=self.queues, functions={}, clock=self.clock)
        self.glue.listeners.append(self.bus.put)
        self.sqs = QueueSqs(self.queues)
        self.deferrals = 0
        self.mappings = [LocalEventSource(m, self.queues[m.queue.logical_id],
                                          self._trigger(settings_from(m.function.environment)), clock=self.clock)
                         for m in template.event_source_mappings()]
        self.raw_bucket = next(b.name for b in template.buckets() if b.logical_id == "RawBucket")

    def _trigger(self, settings: TriggerSettings) -> Callable[[dict[str, Any]], Any]:
        def handle(event: dict[str, Any]) -> Any:
            outcome = handle_batch(event, self.glue, settings, QUIET, sqs=self.sqs, now=self.clock)
            self.deferrals += int(outcome.deferred)
            return outcome.response
        return handle

    def run(self, arrivals: list[Arrival], poll_s: float) -> None:
        """Until every arrival is in, every queue (but the dead-letter ones) empty and no run going."""
        origin = self.start.timestamp()
        waiting = deque(sorted(arrivals, key=lambda a: a.at_s))
        sequence = itertools.count()
        working = [q for q in self.queues.values() if q.dead_letters is not None]
        while waiting or any(q.pending for q in working) or self.glue.next_end_s() is not None:
            while waiting and waiting[0].at_s + origin <= self.clock.now:
                arrival = waiting.popleft()
                self.bus.put(object_created_event(self.raw_bucket, arrival.key, size=1, etag="0",
                                                  sequence=next(sequence), now_s=self.clock.now))
            self.glue.advance()
            for mapping in self.mappings:
                mapping.poll()
            self.clock.now = self._next_moment(poll_s, waiting[0].at_s + origin if waiting else None)

    def _next_moment(self, poll_s: float, next_arrival: float | None) -> float:
        """The next moment something can happen: a poll while messages wait, else the next arrival, run end
        or delayed message, whichever comes first."""
        now = self.clock.now
        if any(m.queue.visible for m in self.mappings):
            return now + poll_s
        candidates = [t for t in (next_arrival, self.glue.next_end_s(),
                                  *(q.next_visible_s() for q in self.queues.values())) if t is not None]
        return max(now + 0.001, min(candidates)) if candidates else now + poll_s

    def report(self, arrivals: list[Arrival], prices: Prices) -> Report:
        origin = self.start.timestamp()
        runs = [r for r in self.glue.runs if r.job == self.template.glue_job("CompactionJob").name]
        last_touch: dict[str, float] = {}
        for arrival in arrivals:
            last_touch[arrival.date] = max(last_touch.get(arrival.date, 0.0), arrival.at_s + origin)
        covered: dict[str, list[ModelRun]] = {}
        for run in runs:
            for date in run.arguments.get("--dates", "").split(","):
                covered.setdefault(date, []).append(run)
        stale = sorted(d for d, touched in last_touch.items()
                       if not any(r.started_s >= touched for r in covered.get(d, [])))
        lags: dict[str, float] = {}
        for arrival in arrivals:
            at = arrival.at_s + origin
            done = min((r.ends_s for r in covered.get(arrival.date, []) if r.started_s >= at), default=math.inf)
            lags[arrival.workload] = max(lags.get(arrival.workload, 0.0), done - at)
        # rates over the days objects arrived (the last quality run may wait out its interval after them)
        days = max(max((a.at_s for a in arrivals), default=0.0) / DAY_S, 1 / 24)
        jobs = {job.name: job for job in self.template.glue_jobs()}
        bill = sum(glue_run_cost(prices, jobs[r.job], r.billed_s) for r in self.glue.runs)
        dead_letter_queues = {q.dead_letters.settings.logical_id for q in self.queues.values() if q.dead_letters}
        per_day = {name: sum(1 for r in self.glue.runs if r.job == name) / days for name in jobs}
        return Report(days=round(days, 2), runs_per_day=per_day,
                      longest_lag_s=lags, glue_usd=bill, glue_usd_per_month=bill / days * DAYS_A_MONTH,
                      dead_letters=sum(self.queues[lid].pending for lid in dead_letter_queues),
                      deferrals=self.deferrals, touched_dates=len(last_touch), stale_dates=stale)


def simulate(arrivals: Iterable[Arrival], *, start: datetime, parameters: Mapping[str, str] | None = None,
             length: RunLength | None = None, prices: Prices | None = None, poll_s: float = 5.0) -> Report:
    pending = sorted(arrivals, key=lambda a: a.at_s)
    simulation = Simulation(start, parameters, length or RunLength(), Counter(a.date for a in pending))
    simulation.run(pending, poll_s)
    return simulation.report(pending, prices or Prices.load())


def default_workload(start: datetime, *, days: int = 7, buffer_s: int = 60,
                     backfills: bool = True) -> list[Arrival]:
    """The issue's week: a feed of the default symbols around the clock and, with `backfills`, a ten-year
    daily backfill of 20 symbols a seventh into it and a month of 1-minute bars for 5 symbols halfway."""
    arrivals = list(streaming(start, days, buffer_s))
    if backfills:
        arrivals += history(timedelta(days=days / 7), symbols=20, first=start - timedelta(days=3652),
                            days=3652, hourly=False, partitions_per_interval=400, buffer_s=buffer_s,
                            name="daily backfill")
        arrivals += history(timedelta(days=days / 2), symbols=5, first=start - timedelta(days=30), days=30,
                            hourly=True, partitions_per_interval=400, buffer_s=buffer_s, name="minute backfill")
    return arrivals


SCENARIOS = ((False, "the feed alone"),
             (True, "the feed, a ten-year daily backfill of 20 symbols and a month of 1-minute bars for 5"))


def report_lines(reports: Iterable[tuple[str, Report]]) -> list[str]:
    return [line for title, report in reports for line in (f"{title}:", *report.lines())]


def main_report(days: int, parameters: Mapping[str, str]) -> list[str]:
    """The default feed alone, then with the backfills (docs/compaction.md shows the default week's)."""
    start = SIMULATION_START
    return report_lines((title, simulate(default_workload(start, days=days, backfills=backfills), start=start,
                                         parameters=parameters)) for backfills, title in SCENARIOS)
