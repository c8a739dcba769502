"""ECS task definitions run as local processes, as Fargate runs them: the image's entry point with the
container's command and environment from the template, stopped with SIGTERM and, after its StopTimeout,
SIGKILL. What only AWS has is replaced by the local stack's, the same way for every task:

- `s3://bucket/key` values name the bucket's folder in the lake;
- values under a container mount point name that volume's folder (the task's own storage);
- a Secrets Manager secret id (OHLCV_API_KEY_SECRET_ID) becomes the key itself (TWELVEDATA_API_KEY);
- the local endpoints (Firehose, the Twelve Data stand-in) are added as the variables that name them.

Output goes to `<lake>/cloudwatch/ecs/<family>.log`, as the awslogs driver sends it to the task's group.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from local_stack.s3 import LocalS3
from ohlcv_core import config
from ohlcv_core.errors import ConfigError
from stack_tools.template import ContainerSettings, TaskDefinitionSettings

LOG = logging.getLogger(__name__)
IMAGE_ENTRYPOINT = ("-m", "producers")  # producers/Dockerfile's ENTRYPOINT after `python` (a test holds it)
LOCAL_API_KEY = "local"  # what the stand-in accepts when it asks for none
DEFAULT_STOP_TIMEOUT_S = 30  # ECS's default


@dataclass
class TaskRun:
    logical_id: str
    process: subprocess.Popen[bytes]
    log: Path
    stop_timeout_s: int


class LocalTasks:
    def __init__(self, definitions: list[TaskDefinitionSettings], *, lake: Path, s3: LocalS3,
                 endpoints: Mapping[str, str] | None = None, python: str = sys.executable) -> None:
        self.definitions = {d.logical_id: d for d in definitions}
        self._lake = lake
        self._s3 = s3
        self._python = python
        self.endpoints: dict[str, str] = dict(endpoints or {})
        self.runs: list[TaskRun] = []
        self._lock = threading.Lock()

    def _container(self, logical_id: str) -> tuple[TaskDefinitionSettings, ContainerSettings]:
        if logical_id not in self.definitions:
            raise ConfigError(f"no task definition {logical_id!r} (have {sorted(self.definitions)})")
        definition = self.definitions[logical_id]
        essential = [c for c in definition.containers if c.essential]
        if len(essential) != 1:
            raise ConfigError(f"{logical_id}: the local stack runs tasks of one essential container")
        return definition, essential[0]

    def environment(self, logical_id: str) -> dict[str, str]:
        """The container's environment as the local stack gives it (the module's rules above)."""
        definition, container = self._container(logical_id)
        volumes = {path: self._lake / "tasks" / definition.family / volume
                   for path, volume in container.mounts.items()}
        env: dict[str, str] = {}
        for name, value in container.environment.items():
            if name == config.ENV_API_KEY_SECRET_ID:
                env[config.ENV_API_KEY] = LOCAL_API_KEY
                continue
            env[name] = self._local_value(value, volumes)
        return {**env, **self.endpoints}

    def _local_value(self, value: str, volumes: Mapping[str, Path]) -> str:
        if value.startswith("s3://"):
            return self._s3.path_of(value).as_posix() + ("/" if value.endswith("/") else "")
        for path, folder in sorted(volumes.items(), key=lambda item: -len(item[0])):  # the deepest mount
            if value == path or value.startswith(path.rstrip("/") + "/"):
                return (folder / value[len(path):].lstrip("/")).as_posix()
        return value

    def command(self, logical_id: str) -> list[str]:
        _, container = self._container(logical_id)
        return [self._python, *IMAGE_ENTRYPOINT, *container.command]

    def run(self, logical_id: str) -> TaskRun:
        """Start the task (RunTask): its process, with the environment above and the volumes made."""
        definition, container = self._container(logical_id)
        for volume in set(container.mounts.values()):
            (self._lake / "tasks" / definition.family / volume).mkdir(parents=True, exist_ok=True)
        log = self._lake / "cloudwatch" / "ecs" / f"{definition.family}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("OHLCV_", "TWELVEDATA_"))}
        with log.open("ab") as out:
            process = subprocess.Popen(self.command(logical_id), env={**environ, **self.environment(logical_id)},
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        run = TaskRun(logical_id, process, log, container.stop_timeout_s or DEFAULT_STOP_TIMEOUT_S)
        with self._lock:
            self.runs.append(run)
        LOG.info("task %s started (pid %d), log %s", logical_id, process.pid, log)
        return run

    def stop(self) -> None:
        """StopTask for every task still running: SIGTERM, then SIGKILL after its StopTimeout."""
        with self._lock:
            running = [r for r in self.runs if r.process.poll() is None]
        for run in running:
            run.process.send_signal(signal.SIGTERM)
        for run in running:
            try:
                run.process.wait(timeout=run.stop_timeout_s)
            except subprocess.TimeoutExpired:
                LOG.warning("task %s outlived its stop timeout: killed", run.logical_id)
                run.process.kill()
                run.process.wait()
