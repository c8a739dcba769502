"""The trigger code on real event shapes: the EventBridge sample inside the SQS sample, against moto's
Glue; and the local EventBridge -> SQS -> Lambda wiring's batching, redelivery and dead letters."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.moto_api import state_manager

from job_trigger import handler
from job_trigger.cadence import BUSY_RETRY_S, delay_seconds, seconds_to_wait
from job_trigger.events import deferred_event
from job_trigger.handler import MAX_FAILED_STARTS, TriggerSettings, handle_batch
from local_stack.events import LocalEventBus, matches
from local_stack.lambda_runtime import LocalContext
from local_stack.sqs import LocalEventSource, LocalQueue
from stack_tools.template import EventSourceMappingSettings, StackTemplate
from tests.fixtures import load_json

RAW = "ohlcv-local-raw-000000000000"
COMPACT = TriggerSettings("compact", RAW)
LOG = logging.getLogger("tests.job_trigger")


def _object_created(key: str, bucket: str = RAW) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(load_json("aws-events/s3EventBridgeNotificationObjectCreatedEvent.json"))
    event["detail"]["bucket"]["name"] = bucket
    event["resources"] = [f"arn:aws:s3:::{bucket}"]
    event["detail"]["object"]["key"] = key
    return event


def _sqs_event(bodies: list[str]) -> dict[str, Any]:
    sample = load_json("aws-events/sqsEvent.json")
    records = []
    for index, body in enumerate(bodies):
        record = copy.deepcopy(sample["Records"][0])
        record["messageId"] = f"m{index}"
        record["body"] = body
        records.append(record)
    return {"Records": records}


@pytest.fixture
def glue() -> Any:
    with mock_aws():
        client = boto3.client("glue", region_name="us-east-1")
        for name, script in (("compact", "compact_bars.py"), ("quality", "check_quality.py")):
            client.create_job(Name=name, Role="arn:aws:iam::123456789012:role/glue",
                              Command={"Name": "glueetl", "ScriptLocation": f"s3://artifacts/glue_jobs/{script}"})
        yield client


def test_one_run_per_batch_for_the_dates_the_batch_touched(glue: Any) -> None:
    bodies = [orjson.dumps(_object_created(k)).decode() for k in (
        "raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/ohlcv-local-prices-1-a",
        "raw/kind%3Dprice/dt%3D2023-08-25/hour%3D00/ohlcv-local-prices-1-b",
        "raw/kind%3Dprice/dt%3D2023-08-24/hour%3D15/ohlcv-local-prices-1-c",
        "raw/kind%3Dbar/dt%3D2023-08-20/hour%3D15/ohlcv-local-prices-1-d",  # REST bars count too
        "raw/kind%3Dother/dt%3D2023-08-21/hour%3D15/ohlcv-local-prices-1-f",
        "errors/processing-failed/2023/08/24/14/ohlcv-local-prices-1-e")]
    response = handle_batch(_sqs_event(bodies), glue, COMPACT, LOG).response
    assert response == {"batchItemFailures": []}
    (run,) = glue.get_job_runs(JobName="compact")["JobRuns"]
    assert run["Arguments"] == {"--dates": "2023-08-20,2023-08-24,2023-08-25"}


def test_the_eventbridge_sample_unchanged_touches_nothing(glue: Any) -> None:
    sample = load_json("aws-events/s3EventBridgeNotificationObjectCreatedEvent.json")
    outcome = handle_batch(_sqs_event([orjson.dumps(sample).decode()]), glue,
                           TriggerSettings("compact", "example-bucket"), LOG)
    assert outcome.response == {"batchItemFailures": []} and not outcome.started
    assert glue.get_job_runs(JobName="compact")["JobRuns"] == []


def test_unreadable_messages_fail_alone_so_they_reach_the_dead_letter_queue(glue: Any) -> None:
    good = orjson.dumps(_object_created("raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/x")).decode()
    response = handle_batch(_sqs_event(["Test message.", good]), glue, COMPACT, LOG).response
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert len(glue.get_job_runs(JobName="compact")["JobRuns"]) == 1


@pytest.fixture
def busy_glue() -> Any:
    """moto's Glue whose runs stay STARTING until told otherwise, and which refuses a second concurrent
    run (MaxConcurrentRuns 1), as Glue does while a run is going; and moto's SQS with the trigger's queue."""
    with mock_aws():
        state_manager.set_transition(model_name="glue::job_run", transition={"progression": "manual", "times": 10**6})
        try:
            client = boto3.client("glue", region_name="us-east-1")
            client.create_job(Name="compact", Role="arn:aws:iam::123456789012:role/glue", ExecutionProperty={
                "MaxConcurrentRuns": 1}, Command={"Name": "glueetl", "ScriptLocation": "s3://a/glue_jobs/c.py"})
            yield client
        finally:
            state_manager.unset_transition("glue::job_run")


def _trigger_queue() -> tuple[Any, str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    return sqs, sqs.create_queue(QueueName="compaction")["QueueUrl"]


CREATED = [orjson.dumps(_object_created("raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/x")).decode(),
           orjson.dumps(_object_created("raw/kind%3Dprice/dt%3D2023-08-25/hour%3D01/y")).decode()]


class Sent:
    """SQS as the trigger sees it, keeping each SendMessage's arguments (moto's SQS takes them too)."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.calls: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        response: dict[str, Any] = self.sqs.send_message(**kwargs)
        return response


def test_a_batch_beside_a_running_job_is_deferred_whole_and_spends_no_receive(busy_glue: Any) -> None:
    # GIVEN a compaction run that is going, and the trigger's queue
    busy_glue.start_job_run(JobName="compact", Arguments={"--dates": "2023-08-23"})
    sqs, url = _trigger_queue()
    sent = Sent(sqs)
    settings = TriggerSettings("compact", RAW, queue_url=url, interval_s=0)
    # WHEN a batch of Object Created events arrives
    outcome = handle_batch(_sqs_event(CREATED), busy_glue, settings, LOG, sqs=sent)
    # THEN the batch is done (no message comes back to spend a receive) and its dates wait in one message,
    # delayed by the busy retry, for a run that takes them all
    assert outcome.response == {"batchItemFailures": []} and outcome.deferred and not outcome.started
    (call,) = sent.calls
    assert call["QueueUrl"] == url and call["DelaySeconds"] == BUSY_RETRY_S
    assert orjson.loads(call["MessageBody"])["detail"] == {
        "jobName": "compact", "dates": ["2023-08-24", "2023-08-25"], "redrive": 0, "failedStarts": 0}
    assert len(busy_glue.get_job_runs(JobName="compact")["JobRuns"]) == 1


def test_deferred_dates_join_the_next_run_with_the_new_ones(busy_glue: Any) -> None:
    sqs, url = _trigger_queue()
    settings = TriggerSettings("compact", RAW, queue_url=url)
    deferred = orjson.dumps(deferred_event("compact", ["2023-08-20", "2023-08-24"], 1, 2)).decode()
    other_job = orjson.dumps(deferred_event("quality", ["2023-01-01"], 0, 0)).decode()
    outcome = handle_batch(_sqs_event([deferred, other_job, CREATED[1]]), busy_glue, settings, LOG, sqs=sqs)
    assert outcome.started and outcome.response == {"batchItemFailures": []}
    (run,) = busy_glue.get_job_runs(JobName="compact")["JobRuns"]
    assert run["Arguments"] == {"--dates": "2023-08-20,2023-08-24,2023-08-25", "--redrive": "1"}


def test_at_most_one_run_starts_per_interval(busy_glue: Any) -> None:
    # GIVEN a run that started 100 s ago and has ended, and a 900 s interval
    sqs, url = _trigger_queue()
    sent = Sent(sqs)
    busy_glue.start_job_run(JobName="compact", Arguments={"--dates": "2023-08-23"})
    started = busy_glue.get_job_runs(JobName="compact")["JobRuns"][0]["StartedOn"].timestamp()
    state_manager.unset_transition("glue::job_run")
    assert busy_glue.get_job_runs(JobName="compact")["JobRuns"][0]["JobRunState"] != "STARTING"
    settings = TriggerSettings("compact", RAW, queue_url=url, interval_s=900)
    # WHEN a batch arrives then, and again once the interval has passed
    first = handle_batch(_sqs_event(CREATED), busy_glue, settings, LOG, sqs=sent, now=lambda: started + 100)
    second = handle_batch(_sqs_event(CREATED), busy_glue, settings, LOG, sqs=sent, now=lambda: started + 901)
    # THEN the first waits out the interval's rest, the second starts
    assert first.deferred and sent.calls[0]["DelaySeconds"] == 800
    assert second.started and len(busy_glue.get_job_runs(JobName="compact")["JobRuns"]) == 2


class FailingGlue:
    """Glue whose StartJobRun fails for a reason other than a busy job (an outage, a missing grant)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def start_job_run(self, *, JobName: str, Arguments: dict[str, str]) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "StartJobRun")

    def get_job_run(self, *, JobName: str, RunId: str) -> dict[str, Any]:
        raise AssertionError("Object Created events never ask for an earlier run")

    def get_job_runs(self, *, JobName: str, MaxResults: int) -> dict[str, Any]:
        return {"JobRuns": []}


def test_a_start_that_fails_otherwise_waits_longer_each_time_then_comes_back_for_the_dead_letters() -> None:
    with mock_aws():
        sqs, url = _trigger_queue()
        sent = Sent(sqs)
        settings = TriggerSettings("compact", RAW, queue_url=url)
        glue = FailingGlue("AccessDeniedException")
        delays, bodies = [], CREATED
        for _ in range(MAX_FAILED_STARTS):
            outcome = handle_batch(_sqs_event(bodies), glue, settings, LOG, sqs=sent)
            if not outcome.deferred:
                break
            delays.append(sent.calls[-1]["DelaySeconds"])
            bodies = [sent.calls[-1]["MessageBody"]]
        assert delays == [60, 120, 240, 480]  # capped below SQS's 900 s by MAX_FAILED_STARTS
        assert outcome.refused and outcome.response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}


def test_without_a_queue_to_defer_to_a_refused_start_fails_the_whole_batch() -> None:
    bodies = [orjson.dumps(_object_created("raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/x")).decode()] * 3
    response = handle_batch(_sqs_event(bodies), FailingGlue("ConcurrentRunsExceededException"), COMPACT, LOG).response
    assert response == {"batchItemFailures": [{"itemIdentifier": f"m{i}"} for i in range(3)]}


def test_the_wait_before_a_run() -> None:
    assert seconds_to_wait([], 1000.0, 900) == 0
    assert seconds_to_wait([("SUCCEEDED", 500.0)], 1000.0, 900) == 400
    assert seconds_to_wait([("FAILED", 50.0)], 1000.0, 900) == 0
    assert seconds_to_wait([("RUNNING", 990.0)], 1000.0, 0) == BUSY_RETRY_S
    assert seconds_to_wait([("WAITING", 900.0), ("SUCCEEDED", 100.0)], 1000.0, 900) == 800
    assert (delay_seconds(0.2), delay_seconds(800.5), delay_seconds(5000)) == (1, 801, 900)


# -- the local wiring -------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _trigger_mapping() -> EventSourceMappingSettings:
    (mapping,) = [m for m in StackTemplate().event_source_mappings() if m.function.logical_id == "TriggerFunction"]
    return mapping


def _queue_pair(tmp_path: Path, clock: Clock | None = None) -> LocalQueue:
    """The trigger's queue with its dead-letter queue, as the template declares them."""
    template = StackTemplate()
    queue = _trigger_mapping().queue
    assert queue.dead_letter_queue is not None
    return LocalQueue(queue, dead_letters=LocalQueue(template.queue(queue.dead_letter_queue), folder=tmp_path),
                      clock=clock or Clock())


def test_the_rules_from_the_template_select_raw_zone_objects_and_failed_runs() -> None:
    rules = {r.logical_id: r for r in StackTemplate().rules()}
    objects, failures = rules["RawObjectCreatedRule"].event_pattern, rules["CompactionFailedRule"].event_pattern
    assert objects is not None and failures is not None
    assert matches(objects, _object_created("raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/x"))
    assert not matches(objects, _object_created("source/2023/08/24/14/x"))
    assert not matches(objects, _object_created("raw/x", bucket="other"))
    assert matches(failures, orjson.loads(_failed("jr_1", job="ohlcv-local-compact-bars")))
    assert not matches(failures, orjson.loads(_failed("jr_1", job="other")))
    succeeded = orjson.loads(_failed("jr_1", job="ohlcv-local-compact-bars"))
    succeeded["detail"]["state"] = "SUCCEEDED"
    assert not matches(failures, succeeded)


def test_the_bus_puts_matching_events_on_the_rules_queue(tmp_path: Path) -> None:
    # GIVEN the template's rules and queues
    template = StackTemplate()
    queues = {q.logical_id: LocalQueue(q) for q in template.queues()}
    bus = LocalEventBus(template.rules(), queues=queues, functions={})
    # WHEN raw-zone objects, another prefix's object and a failed run of the job are put on the bus
    bus.put(_object_created("raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/x"))
    bus.put(_object_created("source/2023/08/24/14/x"))
    bus.put(orjson.loads(_failed("jr_1", job="ohlcv-local-compact-bars")))
    # THEN the compaction queue holds the two that its rules select, as their JSON
    queue = queues[_trigger_mapping().queue.logical_id]
    bodies = [orjson.loads(m.body) for m in queue.take(10)]
    assert [b["detail-type"] for b in bodies] == ["Object Created", "Glue Job State Change"]


def test_batches_follow_the_mapping_size_and_window(tmp_path: Path) -> None:
    settings = _trigger_mapping()
    assert (settings.batch_size, settings.window_s, settings.queue.max_receive_count) == (100, 60, 5)
    assert settings.report_batch_item_failures
    batches: list[int] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        batches.append(len(event["Records"]))
        assert all(r["eventSource"] == "aws:sqs" for r in event["Records"])
        return {"batchItemFailures": []}

    clock = Clock()
    queue = LocalQueue(settings.queue, clock=clock)
    source = LocalEventSource(settings, queue, handler, clock=clock)
    for index in range(250):
        queue.send(orjson.dumps(_object_created(f"raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/{index}")).decode())
    source.poll()
    assert batches == [100, 100]  # full batches go at once; 50 wait for the window
    clock.now += 59
    source.poll()
    assert batches == [100, 100]
    clock.now += 1
    source.poll()
    assert batches == [100, 100, 50] and queue.pending == 0


def test_a_consumer_that_raises_loses_nothing(tmp_path: Path) -> None:
    calls: list[int] = []

    def crashing(event: dict[str, Any]) -> dict[str, Any]:
        calls.append(len(event["Records"]))
        raise RuntimeError("the trigger crashed")

    queue = _queue_pair(tmp_path)
    source = LocalEventSource(_trigger_mapping(), queue, crashing, clock=Clock())
    for index in range(3):
        queue.send(orjson.dumps(_object_created(f"raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/{index}")).decode())
    source.poll(force=True)
    assert calls == [3] and queue.pending == 3  # back in the queue, to be delivered again


def test_a_failed_message_is_invisible_for_the_visibility_timeout_and_a_delayed_one_until_due(
        tmp_path: Path) -> None:
    clock = Clock()
    queue = _queue_pair(tmp_path, clock)
    calls: list[int] = []

    def failing(event: dict[str, Any]) -> dict[str, Any]:
        calls.append(len(event["Records"]))
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}

    source = LocalEventSource(_trigger_mapping(), queue, failing, clock=clock)
    queue.send("a")
    queue.send("b", delay_s=120)
    source.poll(force=True)
    assert calls == [1] and queue.pending == 2 and queue.visible == 0  # "a" in flight, "b" delayed
    clock.now += 120
    source.poll(force=True)
    assert calls == [1, 1]  # "b" is due; "a" waits out the queue's 360 s
    assert queue.next_visible_s() == clock.now + 240
    clock.now += 240
    source.poll(force=True)
    assert calls == [1, 1, 1] and [m.receive_count for m in queue.take(10)] == []  # both in flight again
    with pytest.raises(ValueError, match="DelaySeconds"):
        queue.send("c", delay_s=901)


def test_failed_messages_come_back_then_rest_in_the_dead_letter_queue(tmp_path: Path) -> None:
    queue_clock = Clock()
    queue = _queue_pair(tmp_path, queue_clock)
    source = LocalEventSource(_trigger_mapping(), queue, lambda e: {"batchItemFailures": [
        {"itemIdentifier": r["messageId"]} for r in e["Records"]]}, clock=queue_clock)
    queue.send(orjson.dumps(_object_created("raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/x")).decode())
    for _ in range(5):
        source.poll(force=True)
        queue_clock.now += queue.settings.visibility_timeout_s  # back once its visibility timeout ends
    assert queue.pending == 0 and source.dead_lettered == 1
    assert queue.dead_letters is not None and queue.dead_letters.pending == 1
    (dead,) = [orjson.loads(line) for line in (tmp_path / "ohlcv-local-compaction-dlq.jsonl").read_bytes().splitlines()]
    assert dead["receiveCount"] == 5 and orjson.loads(dead["body"])["detail-type"] == "Object Created"


def test_the_lambda_entry_point_on_aws_shapes_with_its_environment(
        glue: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OHLCV_TRIGGER_JOB", "compact")
    monkeypatch.setenv("OHLCV_RAW_BUCKET", RAW)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    handler._settings.cache_clear()
    handler._glue.cache_clear()
    body = orjson.dumps(_object_created("raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/x")).decode()
    context = LocalContext("trigger", "arn:aws:lambda:us-east-1:0:function:trigger", 256, "r", 2**62)
    try:
        assert handler.lambda_handler(_sqs_event([body]), context) == {"batchItemFailures": []}
    finally:
        handler._settings.cache_clear()
        handler._glue.cache_clear()
    assert len(glue.get_job_runs(JobName="compact")["JobRuns"]) == 1
    emf = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf and emf[0]["RunsStarted"] in (1.0, [1.0])


def _failed(run_id: str, job: str = "compact", state: str = "FAILED") -> str:
    return orjson.dumps({"version": "0", "id": "e1", "detail-type": "Glue Job State Change", "source": "aws.glue",
                         "detail": {"jobName": job, "severity": "ERROR", "state": state, "jobRunId": run_id,
                                    "message": "boom"}}).decode()


def test_the_succeeded_runs_of_the_job_it_follows_start_one_run_for_their_dates(glue: Any) -> None:
    # GIVEN the quality trigger (it follows compaction) and two compaction runs that succeeded
    first = glue.start_job_run(JobName="compact", Arguments={"--dates": "2023-08-24,2023-08-25"})["JobRunId"]
    second = glue.start_job_run(JobName="compact", Arguments={"--dates": "2023-08-25,2023-08-28"})["JobRunId"]
    settings = TriggerSettings("quality", after_job="compact")
    # WHEN their events arrive in one batch, with a failed compaction run's and an Object Created event
    created = orjson.dumps(_object_created("raw/kind%3Dprice/dt%3D2023-09-01/hour%3D14/x")).decode()
    events = [_failed(first, state="SUCCEEDED"), _failed(second, state="SUCCEEDED"), _failed(first), created]
    outcome = handle_batch(_sqs_event(events), glue, settings, LOG)
    # THEN one quality run checks the succeeded runs' dates; the other events name nothing to it
    assert outcome.started and outcome.response == {"batchItemFailures": []}
    (run,) = glue.get_job_runs(JobName="quality")["JobRuns"]
    assert run["Arguments"] == {"--dates": "2023-08-24,2023-08-25,2023-08-28"}


def test_a_succeeded_run_that_cannot_be_read_comes_back_alone(glue: Any) -> None:
    done = glue.start_job_run(JobName="compact", Arguments={"--dates": "2023-08-24"})["JobRunId"]
    events = [_failed("jr_unknown", state="SUCCEEDED"), _failed(done, state="SUCCEEDED")]
    outcome = handle_batch(_sqs_event(events), glue, TriggerSettings("quality", after_job="compact"), LOG)
    assert outcome.response == {"batchItemFailures": [{"itemIdentifier": "m0"}]} and outcome.started
    (run,) = glue.get_job_runs(JobName="quality")["JobRuns"]
    assert run["Arguments"] == {"--dates": "2023-08-24"}


def test_a_run_that_failed_is_started_again_for_its_dates(glue: Any) -> None:
    failed = glue.start_job_run(JobName="compact", Arguments={"--dates": "2023-08-24,2023-08-25"})["JobRunId"]
    outcome = handle_batch(_sqs_event([_failed(failed)]), glue, COMPACT, LOG)
    assert outcome.response == {"batchItemFailures": []} and outcome.redriven == 1
    latest = max(glue.get_job_runs(JobName="compact")["JobRuns"], key=lambda r: r["StartedOn"])
    assert latest["Arguments"] == {"--dates": "2023-08-24,2023-08-25", "--redrive": "1"}


def test_after_its_redrives_a_failing_run_is_left_for_a_person(glue: Any) -> None:
    failed = glue.start_job_run(JobName="compact", Arguments={"--dates": "2023-08-24", "--redrive": "3"})["JobRunId"]
    outcome = handle_batch(_sqs_event([_failed(failed), _failed(failed, job="other-job")]), glue, COMPACT, LOG)
    assert outcome.response == {"batchItemFailures": [{"itemIdentifier": "m0"}]} and outcome.given_up == 1
    assert len(glue.get_job_runs(JobName="compact")["JobRuns"]) == 1  # nothing started


def test_a_failed_run_glue_cannot_find_fails_its_message_alone(glue: Any) -> None:
    # GIVEN a batch: a failed-run event Glue no longer knows the run of, and an Object Created event
    created = orjson.dumps(_object_created("raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/x")).decode()
    outcome = handle_batch(_sqs_event([_failed("jr_unknown"), created]), glue, COMPACT, LOG)
    # THEN the object's date is compacted; the unreadable run's message alone comes back (then the DLQ)
    assert outcome.response == {"batchItemFailures": [{"itemIdentifier": "m0"}]} and outcome.started
    (run,) = glue.get_job_runs(JobName="compact")["JobRuns"]
    assert run["Arguments"] == {"--dates": "2023-08-24"}


def test_locally_a_failing_compaction_is_redriven_then_dead_lettered(spark: Any, tmp_path: Path) -> None:
    from local_stack.stack import AT_ONCE, LocalStack, prepare_lake

    # GIVEN the local stack, and a raw object the job cannot read
    stack = LocalStack(prepare_lake(tmp_path / "lake", fresh=True), lambda: spark, parameters=AT_ONCE).start()
    try:
        stack.s3.put_object(RAW, "raw/kind=price/dt=2023-08-24/hour=14/broken", b'{"symbol": "AAPL", "price": "x"}\n')
        # WHEN everything settles: the trigger (its own process, calling Glue through the local endpoint)
        # starts the job, each failed run comes back through the queue and is started again
        stack.settle()
    finally:
        stack.stop()
    runs = stack.glue.runs
    assert {r.state for r in runs} == {"FAILED"}
    assert sorted({r.requested.get("--redrive", "0") for r in runs}) == ["0", "1", "2", "3"]
    # THEN after its redrives the last failure rests in the dead-letter queue, for a person
    queue = stack.queues["CompactionQueue"]
    assert queue.pending == 0 and queue.dead_letters is not None and queue.dead_letters.pending == 1


@pytest.mark.parametrize("event", [
    {"detail-type": "Glue Job State Change", "detail": ["compact", "FAILED"]},
    {"detail-type": "Glue Job State Change", "detail": {"jobName": "compact", "state": "FAILED", "jobRunId": 7}},
    {"detail-type": "Glue Job State Change", "detail": {"jobName": "compact", "jobRunId": "jr_1"}},
    {"detail-type": "Glue Job State Change"}, {"detail-type": 5, "detail": None}, [1, 2], "text",
])
def test_a_hostile_glue_event_starts_nothing_and_fails_no_other_message(glue: Any, event: Any) -> None:
    created = orjson.dumps(_object_created("raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/x")).decode()
    outcome = handle_batch(_sqs_event([orjson.dumps(event).decode(), created]), glue, COMPACT, LOG)
    assert outcome.response == {"batchItemFailures": []} and outcome.started
    (run,) = glue.get_job_runs(JobName="compact")["JobRuns"]
    assert run["Arguments"] == {"--dates": "2023-08-24"}


def test_a_failed_run_with_hostile_arguments_is_left_for_a_person_or_keeps_only_real_dates(glue: Any) -> None:
    odd_count = glue.start_job_run(JobName="compact", Arguments={"--dates": "2023-08-24", "--redrive": "x"})
    outcome = handle_batch(_sqs_event([_failed(odd_count["JobRunId"])]), glue, COMPACT, LOG)
    assert outcome.given_up == 1 and outcome.response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    odd_dates = glue.start_job_run(JobName="compact", Arguments={"--dates": "../../etc,2023-08-25,2023-13-01"})
    outcome = handle_batch(_sqs_event([_failed(odd_dates["JobRunId"])]), glue, COMPACT, LOG)
    assert outcome.started and outcome.dates == ["2023-08-25"]


def test_a_local_glue_run_waits_its_start_up_counted_against_max_concurrent_runs(tmp_path: Path) -> None:
    import threading

    from local_stack.glue import GlueApiError, LocalGlue
    from local_stack.s3 import LocalS3

    released = threading.Event()
    waits: list[float] = []

    def provisioning(seconds: float) -> None:
        waits.append(seconds)
        released.wait(timeout=30)

    jobs = StackTemplate().glue_jobs()
    glue = LocalGlue(jobs, LocalS3(tmp_path / "s3"), lambda: None, startup_s=12.0, sleep=provisioning)
    name = jobs[0].name
    run = glue.start_job_run(name, {"--dates": "2023-08-24"})
    try:
        # WHILE it starts up it is WAITING, and a second start is refused as Glue refuses it
        assert run.state == "WAITING"
        with pytest.raises(GlueApiError, match="Concurrent runs exceeded"):
            glue.start_job_run(name, {"--dates": "2023-08-25"})
    finally:
        released.set()
    assert glue.wait_idle(timeout_s=60)
    assert waits and set(waits) == {12.0}  # every attempt (Glue's retries too) starts up
    glue.close()
