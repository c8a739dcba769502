"""Runs a Lambda handler as Lambda does: in its own process, started at the first invocation, with the
function's environment from the template plus what Lambda adds (name, region, credentials), and its
stdout/stderr (JSON logs, EMF metrics) captured to a log file, as CloudWatch would. AWS calls the
function makes go where `aws_environment` points them (the local stack's endpoint, `AWS_ENDPOINT_URL`)."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ohlcv_core.errors import PipelineError
from stack_tools.template import LOCAL_REGION, LambdaSettings


@dataclass
class LocalContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    deadline_ms: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


def _init_worker(environment: dict[str, str], log_path: str) -> None:
    os.environ.update(environment)
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the worker
    sys.stdout = log
    sys.stderr = log


def _invoke(handler: str, event: dict[str, Any], context: LocalContext) -> Any:
    module_name, _, function_name = handler.rpartition(".")
    function = getattr(importlib.import_module(module_name), function_name)
    return function(event, context)


class LocalLambda:
    def __init__(self, settings: LambdaSettings, log_dir: Path, aws_environment: Mapping[str, str] | None = None
                 ) -> None:
        self.settings = settings
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{settings.function_name}.log"
        self._environment = {
            **settings.environment,
            "AWS_LAMBDA_FUNCTION_NAME": settings.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(settings.memory_mb),
            "AWS_REGION": LOCAL_REGION,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            **(aws_environment or {}),
        }
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.invocations = 0
        self.errors = 0

    def _new_sandbox(self) -> ProcessPoolExecutor:
        # "spawn": a fresh interpreter, as Lambda's sandbox, and safe beside threads and the JVM.
        return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(self._environment, str(self.log_path)))

    def invoke(self, event: dict[str, Any]) -> Any:
        timeout_s = self.settings.timeout_s
        context = LocalContext(
            function_name=self.settings.function_name, invoked_function_arn=self.settings.arn,
            memory_limit_in_mb=self.settings.memory_mb, aws_request_id=str(uuid.uuid4()),
            deadline_ms=int(time.time() * 1000) + timeout_s * 1000,
            log_group_name=f"/aws/lambda/{self.settings.function_name}",
        )
        with self._lock:
            if self._pool is None:
                self._pool = self._new_sandbox()
            pool = self._pool
            self.invocations += 1
        future = pool.submit(_invoke, self.settings.handler, event, context)
        try:
            return future.result(timeout=timeout_s)
        except (FutureTimeout, BrokenProcessPool) as exc:
            # Lambda replaces a sandbox that timed out or crashed; so do we, at the next invocation.
            with self._lock:
                self.errors += 1
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise PipelineError(f"{self.settings.function_name} failed: {type(exc).__name__} {exc}") from exc
        except Exception:
            with self._lock:
                self.errors += 1
            raise

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def status(self) -> dict[str, Any]:
        return {"name": self.settings.function_name, "invocations": self.invocations, "errors": self.errors,
                "log": str(self.log_path)}
