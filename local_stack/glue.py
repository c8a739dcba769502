"""Glue stand-in: job runs of the real scripts on one long-lived local Spark session.

Arguments are the job's DefaultArguments from the template merged with the run's own, with every
s3:// URL mapped to the folder that stands for it. Runs have ids, states, durations and errors like
GetJobRun; MaxConcurrentRuns and MaxRetries come from the template.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import ClientError

from local_stack.s3 import LocalS3
from local_stack.template import LOCAL_ACCOUNT, LOCAL_REGION, GlueJobSettings
from ohlcv_core.errors import PipelineError

LOG = logging.getLogger(__name__)
RunState = Literal["RUNNING", "SUCCEEDED", "FAILED"]


class ConcurrentRunsExceededException(PipelineError):
    """Glue's answer when a job already has MaxConcurrentRuns runs."""


@dataclass
class JobRun:
    id: str
    job_name: str
    attempt: int
    arguments: dict[str, str]
    state: RunState = "RUNNING"
    started_on: float = field(default_factory=time.time)
    completed_on: float | None = None
    error_message: str | None = None
    result: Any = None
    log_path: Path | None = None
    requested: dict[str, str] = field(default_factory=dict)  # the run's own arguments, as StartJobRun gave them

    @property
    def execution_time_s(self) -> float:
        return round((self.completed_on or time.time()) - self.started_on, 3)


def script_module(script_location: str) -> str:
    """`s3://bucket/glue_jobs/compact_bars.py` -> `glue_jobs.compact_bars` (the same file, importable)."""
    path = script_location.split("://", 1)[-1].split("/", 1)[-1]
    return path.removesuffix(".py").replace("/", ".")


class LocalGlueJob:
    def __init__(self, settings: GlueJobSettings, s3: LocalS3, spark: Callable[[], Any],
                 log_dir: Path | None = None) -> None:
        self.settings = settings
        self._log_dir = log_dir
        self._s3 = s3
        self._spark = spark
        self._active = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.runs: list[JobRun] = []
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def on_state_change(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Glue's "Job State Change" events (EventBridge), for runs that end FAILED."""
        self._listeners.append(listener)

    def _announce_failure(self, run: JobRun) -> None:
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Glue Job State Change",
                 "source": "aws.glue", "account": LOCAL_ACCOUNT, "region": LOCAL_REGION,
                 "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "resources": [],
                 "detail": {"jobName": self.settings.name, "severity": "ERROR", "state": run.state,
                            "jobRunId": run.id, "message": run.error_message or ""}}
        for listener in self._listeners:
            listener(event)

    def _local_arguments(self, arguments: dict[str, str]) -> dict[str, str]:
        merged = {**self.settings.default_arguments, **arguments}
        # Plain absolute paths: Hadoop reads them from the local file system (a file: URI would be
        # percent-encoded, and "dt=" partition folders would not be found).
        return {k: (self._s3.path_of(v).as_posix() + ("/" if v.endswith("/") else "")) if v.startswith("s3://") else v
                for k, v in merged.items()}

    def start_job_run(self, arguments: dict[str, str]) -> JobRun:
        """Run synchronously (retrying per MaxRetries) and return the last attempt's run."""
        with self._lock:
            if self._active >= self.settings.max_concurrent_runs:
                raise ConcurrentRunsExceededException(
                    f"{self.settings.name} already has {self._active} run(s) (MaxConcurrentRuns "
                    f"{self.settings.max_concurrent_runs})")
            self._active += 1
        try:
            run = self._attempt(arguments, 0)
            while run.state == "FAILED" and run.attempt < self.settings.max_retries:
                run = self._attempt(arguments, run.attempt + 1)
            if run.state == "FAILED":
                self._announce_failure(run)
            return run
        finally:
            with self._lock:
                self._active -= 1

    def _attempt(self, arguments: dict[str, str], attempt: int) -> JobRun:
        local = self._local_arguments(arguments)
        run = JobRun(id=f"jr_{next(self._ids):04d}_{int(time.time() * 1000):x}", job_name=self.settings.name,
                     attempt=attempt, arguments=local, requested=dict(arguments))
        self.runs.append(run)
        argv = ["--JOB_NAME", self.settings.name, "--JOB_RUN_ID", run.id]
        for key, value in local.items():
            argv += [key, value]
        with self._run_log(run) as job_log:
            job_log.info("run %s (attempt %d) with %s", run.id, attempt, argv)
            try:
                module = importlib.import_module(script_module(self.settings.script_location))
                run.result = module.main(argv, spark=self._spark())
                run.state = "SUCCEEDED"
            except Exception as exc:  # noqa: BLE001 - a failed run is recorded, as Glue records it
                run.state = "FAILED"
                run.error_message = f"{type(exc).__name__}: {exc}"
                job_log.error("run %s failed: %s\n%s", run.id, run.error_message, traceback.format_exc())
            run.completed_on = time.time()
            job_log.info("run %s %s in %.3f s", run.id, run.state, run.execution_time_s)
        return run

    @contextlib.contextmanager
    def _run_log(self, run: JobRun) -> Iterator[logging.Logger]:
        """The run's log (Glue's /aws-glue/jobs/output), with what the job script logs meanwhile."""
        job_loggers = [logging.getLogger("glue_jobs"), LOG]
        if self._log_dir is None:
            yield LOG
            return
        run.log_path = self._log_dir / self.settings.name / f"{run.id}.log"
        run.log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(run.log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        saved = [(logger.level, logger.propagate) for logger in job_loggers]
        for logger in job_loggers:
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False  # into the run's log, as Glue's output, not onto the console
        try:
            yield LOG
        finally:
            for logger, (level, propagate) in zip(job_loggers, saved, strict=True):
                logger.removeHandler(handler)
                logger.setLevel(level)
                logger.propagate = propagate
            handler.close()


class LocalGlueClient:
    """The Glue API calls the trigger code makes, answered by the local job runner (errors as boto3's)."""

    def __init__(self, jobs: dict[str, LocalGlueJob]) -> None:
        self._jobs = jobs

    def _job(self, name: str) -> LocalGlueJob:
        job = self._jobs.get(name)
        if job is None:
            raise ClientError({"Error": {"Code": "EntityNotFoundException", "Message": f"job {name} not found"}},
                              "GetJob")
        return job

    def get_job_run(self, *, JobName: str, RunId: str) -> dict[str, Any]:
        for run in self._job(JobName).runs:
            if run.id == RunId:
                return {"JobRun": {"Id": run.id, "JobName": JobName, "JobRunState": run.state,
                                   "Arguments": dict(run.requested), "ErrorMessage": run.error_message}}
        raise ClientError({"Error": {"Code": "EntityNotFoundException", "Message": f"run {RunId} not found"}},
                          "GetJobRun")

    def start_job_run(self, *, JobName: str, Arguments: dict[str, str]) -> dict[str, Any]:
        job = self._job(JobName)
        try:
            run = job.start_job_run(Arguments)
        except ConcurrentRunsExceededException as exc:
            raise ClientError({"Error": {"Code": "ConcurrentRunsExceededException", "Message": str(exc)}},
                              "StartJobRun") from exc
        return {"JobRunId": run.id}
