"""Glue stand-in: runs of the template's jobs, on one long-lived local Spark session.

StartJobRun answers at once with a run id, as Glue does; the run waits (WAITING) for the one worker
that runs the jobs' scripts one at a time, then is RUNNING, then SUCCEEDED or FAILED. Arguments are a
job's DefaultArguments from the template merged with the run's own, every s3:// URL mapped to the
folder that stands for it. MaxConcurrentRuns (counting waiting runs) and MaxRetries come from the
template. Every run that ends announces a "Glue Job State Change" event, as EventBridge receives it.
The script is loaded by the name its ScriptLocation gives (`s3://bucket/glue_jobs/x.py` ->
`glue_jobs.x`) and its `main(argv, spark=...)` is called, as Glue calls the script with its arguments.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import logging
import queue
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from local_stack.api import ApiError, Operation, Operations
from local_stack.cloudwatch import logged_to
from local_stack.s3 import LocalS3
from ohlcv_core.errors import PipelineError
from stack_tools.template import LOCAL_ACCOUNT, LOCAL_REGION, GlueJobSettings

LOG = logging.getLogger(__name__)
RunState = Literal["WAITING", "RUNNING", "SUCCEEDED", "FAILED"]
TARGET_PREFIX = "AWSGlue."


class GlueApiError(PipelineError):
    """An error Glue's API answers with (its code is the `__type` of the JSON error)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class GlueFaults:
    """Fault injection: the next `crash_runs` attempts stop at `crash_at`, as a killed job would."""

    crash_runs: int = 0
    crash_at: str = "publishing"  # one of the compaction job's crash points
    crashed: int = 0


@dataclass
class JobRun:
    id: str
    job_name: str
    attempt: int
    arguments: dict[str, str]
    state: RunState = "WAITING"
    started_on: float = field(default_factory=time.time)
    completed_on: float | None = None
    error_message: str | None = None
    result: Any = None
    log_path: Path | None = None
    requested: dict[str, str] = field(default_factory=dict)  # the run's own arguments, as StartJobRun gave them

    @property
    def execution_time_s(self) -> float:
        return round((self.completed_on or time.time()) - self.started_on, 3)

    def describe(self) -> dict[str, Any]:
        """As GetJobRun's JobRun."""
        described: dict[str, Any] = {"Id": self.id, "JobName": self.job_name, "Attempt": self.attempt,
                                     "JobRunState": self.state, "Arguments": dict(self.requested),
                                     "StartedOn": self.started_on, "ExecutionTime": int(self.execution_time_s)}
        if self.completed_on is not None:
            described["CompletedOn"] = self.completed_on
        if self.error_message:
            described["ErrorMessage"] = self.error_message
        return described


def local_arguments(job: GlueJobSettings, s3: LocalS3, arguments: dict[str, str] | None = None) -> dict[str, str]:
    """A run's arguments as the local Glue gives them: the job's DefaultArguments merged with the run's,
    `s3://` URLs as plain absolute paths (Hadoop reads them from the local file system; a file: URI would
    be percent-encoded, and "dt=" partition folders would not be found), and no metrics put to an API (the
    local CloudWatch is the EMF lines in the runs' logs)."""
    merged = {**job.default_arguments, **(arguments or {}), "--publish_metrics": "false"}
    return {k: (s3.path_of(v).as_posix() + ("/" if v.endswith("/") else "")) if v.startswith("s3://") else v
            for k, v in merged.items()}


def script_module(script_location: str) -> str:
    """`s3://bucket/glue_jobs/compact_bars.py` -> `glue_jobs.compact_bars` (the same file, importable)."""
    path = script_location.split("://", 1)[-1].split("/", 1)[-1]
    return path.removesuffix(".py").replace("/", ".")


class LocalGlue:
    """Every Glue job of the template, and the one worker that runs them."""

    def __init__(self, jobs: list[GlueJobSettings], s3: LocalS3, spark: Callable[[], Any],
                 log_dir: Path | None = None, faults: GlueFaults | None = None, *, startup_s: float = 0.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """`startup_s`: each attempt waits this long before its script runs, as Glue's start-up (10-30 s)."""
        self.jobs = {job.name: job for job in jobs}
        self.startup_s, self._sleep = startup_s, sleep
        self.faults = faults or GlueFaults()
        self._s3 = s3
        self._spark = spark
        self._log_dir = log_dir
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.runs: list[JobRun] = []
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        # StartJobRun calls not yet ended and announced, by job: what MaxConcurrentRuns counts (a run Glue
        # is retrying included) and what `idle` waits for
        self._active: Counter[str] = Counter()
        self._pending: queue.Queue[JobRun | None] = queue.Queue(
            maxsize=max(1, sum(job.max_concurrent_runs for job in jobs)))
        self._worker: threading.Thread | None = None

    def on_state_change(self, listener: Callable[[dict[str, Any]], None]) -> None:
        self._listeners.append(listener)

    def job(self, name: str) -> GlueJobSettings:
        if name not in self.jobs:
            raise GlueApiError("EntityNotFoundException", f"Job {name} not found")
        return self.jobs[name]

    # -- the API -----------------------------------------------------------------------------------------
    def start_job_run(self, name: str, arguments: dict[str, str]) -> JobRun:
        job = self.job(name)
        with self._lock:
            active = self._active[name]
            if active >= job.max_concurrent_runs:
                raise GlueApiError("ConcurrentRunsExceededException",
                                   f"Concurrent runs exceeded for {name}: {active} of MaxConcurrentRuns "
                                   f"{job.max_concurrent_runs}")
            run = self._new_run(job, dict(arguments), attempt=0)
            self._active[name] += 1
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="glue-runs", daemon=True)
                self._worker.start()
        self._pending.put(run)
        return run

    def get_job_run(self, name: str, run_id: str) -> JobRun:
        self.job(name)
        for run in self.runs:
            if run.id == run_id and run.job_name == name:
                return run
        raise GlueApiError("EntityNotFoundException", f"Job run {run_id} not found")

    # -- the worker --------------------------------------------------------------------------------------
    def _new_run(self, job: GlueJobSettings, requested: dict[str, str], attempt: int) -> JobRun:
        run = JobRun(id=f"jr_{next(self._ids):04d}_{uuid.uuid4().hex[:16]}", job_name=job.name, attempt=attempt,
                     arguments=local_arguments(job, self._s3, requested), requested=requested)
        self.runs.append(run)
        return run

    def _work(self) -> None:
        while (run := self._pending.get()) is not None:
            job = self.jobs[run.job_name]
            self._attempt(job, run)
            while run.state == "FAILED" and run.attempt < job.max_retries:
                with self._lock:
                    run = self._new_run(job, run.requested, run.attempt + 1)
                self._attempt(job, run)
            self._announce(run)  # before the run counts as done: whoever waits for idle sees its event queued
            with self._idle:
                self._active[job.name] -= 1
                self._idle.notify_all()

    def _attempt(self, job: GlueJobSettings, run: JobRun) -> None:
        if self.startup_s > 0:  # still WAITING, as a run is while Glue provisions it
            self._sleep(self.startup_s)
        argv = ["--JOB_NAME", job.name, "--JOB_RUN_ID", run.id]
        for key, value in run.arguments.items():
            argv += [key, value]
        with self._lock:
            crash = self.faults.crash_runs > 0
            if crash:
                self.faults.crash_runs -= 1
                self.faults.crashed += 1
        if crash:
            argv += ["--crash_at", self.faults.crash_at]
        run.state = "RUNNING"
        run.started_on = time.time()
        with self._run_log(job, run) as job_log:
            job_log.info("run %s (attempt %d) with %s", run.id, run.attempt, argv)
            try:
                module = importlib.import_module(script_module(job.script_location))
                run.result = module.main(argv, spark=self._spark())
                run.state = "SUCCEEDED"
            # SystemExit too: a script that exits, or a job killed where it stood (the crash tests' fault),
            # fails its run as on Glue, and the worker goes on to the next
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - a failed run is recorded, as Glue records it
                run.error_message = f"{type(exc).__name__}: {exc}"
                run.state = "FAILED"
                job_log.error("run %s failed: %s\n%s", run.id, run.error_message, traceback.format_exc())
            run.completed_on = time.time()
            job_log.info("run %s %s in %.3f s", run.id, run.state, run.execution_time_s)

    def _announce(self, run: JobRun) -> None:
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Glue Job State Change",
                 "source": "aws.glue", "account": LOCAL_ACCOUNT, "region": LOCAL_REGION,
                 "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "resources": [],
                 "detail": {"jobName": run.job_name, "severity": "INFO" if run.state == "SUCCEEDED" else "ERROR",
                            "state": run.state, "jobRunId": run.id, "message": run.error_message or ""}}
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # the run is recorded whatever a listener does
                LOG.exception("a listener of %s's state changes failed", run.job_name)

    def idle(self) -> bool:
        with self._lock:
            return not any(self._active.values())

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no run is waiting or running; False if that did not happen within the timeout."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while any(self._active.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(timeout=min(left, 1.0))
        return True

    def close(self) -> None:
        """Let the runs already started finish, then stop the worker."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._pending.put(None)
            worker.join()

    @contextlib.contextmanager
    def _run_log(self, job: GlueJobSettings, run: JobRun) -> Iterator[logging.Logger]:
        """The run's log (Glue's /aws-glue/jobs/output), with what the job script logs meanwhile."""
        job_loggers = [logging.getLogger(script_module(job.script_location).split(".", 1)[0]), LOG]
        if self._log_dir is None:
            yield LOG
            return
        run.log_path = self._log_dir / job.name / f"{run.id}.log"
        # JSON lines, as the job writes them on Glue (its __main__), under the job's metrics name
        script = importlib.import_module(script_module(job.script_location))
        with logged_to(run.log_path, str(getattr(script, "JOB", job.name)), job_loggers):
            yield LOG

    def status(self) -> dict[str, Any]:
        return {"jobs": sorted(self.jobs), "runs": [
            {"id": r.id, "job": r.job_name, "state": r.state, "attempt": r.attempt, "seconds": r.execution_time_s,
             "error": r.error_message, "log": str(r.log_path) if r.log_path else None} for r in self.runs[-20:]]}


class GlueApi:
    """Glue's JSON API operations the stack's functions call, answered by LocalGlue."""

    def __init__(self, glue: LocalGlue) -> None:
        self.glue = glue

    def start_job_run(self, body: dict[str, Any]) -> dict[str, Any]:
        arguments = body.get("Arguments") or {}
        if not isinstance(arguments, dict) or not all(isinstance(v, str) for v in arguments.values()):
            raise GlueApiError("InvalidInputException", "Arguments must map strings to strings")
        return {"JobRunId": self.glue.start_job_run(str(body.get("JobName")), arguments).id}

    def get_job_run(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"JobRun": self.glue.get_job_run(str(body.get("JobName")), str(body.get("RunId"))).describe()}

    def get_job_runs(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("JobName"))
        self.glue.job(name)
        return {"JobRuns": [r.describe() for r in reversed(self.glue.runs) if r.job_name == name]}

    def operations(self) -> Operations:
        def answered(operation: Operation) -> Operation:
            def call(body: dict[str, Any]) -> dict[str, Any]:
                try:
                    return operation(body)
                except GlueApiError as exc:
                    raise ApiError(exc.code, str(exc)) from exc
            return call

        return {name: answered(op) for name, op in {
            "StartJobRun": self.start_job_run, "GetJobRun": self.get_job_run, "GetJobRuns": self.get_job_runs}.items()}
