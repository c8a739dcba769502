"""The chaos run's moving parts, each the real thing: the stand-in serving a live feed on loopback, the
local stack as `ohlcv local up` serves it (stoppable and restartable on its port), the producer as its
own process (`python -m producers`, signalled as ECS signals it), its spool on a small real disk."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from local_stack.stack import LocalFaults, LocalStack
from ohlcv_cli.local_up import serve
from ohlcv_core import config
from ohlcv_core.errors import PipelineError
from producers.spool import FREE_MARGIN, SUFFIX

MARKER_PAGE = 4096  # the marker is a few bytes; a tmpfs gives every file a page


def mount(*args: str) -> subprocess.CompletedProcess[str]:
    """`mount` with these arguments (root can; elsewhere it fails, and says why)."""
    try:
        return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        return subprocess.CompletedProcess(["mount", *args], 127, "", "no mount command on this machine")


@contextlib.contextmanager
def small_disk(folder: Path, size: int | str) -> Iterator[subprocess.CompletedProcess[str]]:
    """A tmpfs of `size` (bytes, or mount's "1m") at `folder`; the mount's outcome says whether it is one
    (returncode 0) or a plain folder, where mounting is not permitted."""
    folder.mkdir(parents=True, exist_ok=True)
    done = mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    try:
        yield done
    finally:
        if done.returncode == 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30, check=False)


def set_writable(folder: Path, writable: bool, *, on_tmpfs: bool) -> str | None:
    """The spool's disk made read-only (or writable again), as a kernel remounts a failing disk: the tmpfs
    remounted; where mounting is not permitted, the folder's write bits taken (which binds all but root).
    None when done, else why it could not be."""
    if on_tmpfs:
        done = mount("-o", f"remount,{'rw' if writable else 'ro'}", str(folder))
        return None if done.returncode == 0 else (done.stderr.strip() or f"mount exited {done.returncode}")
    if os.geteuid() == 0:
        return "mounting is not permitted here, and a folder's mode does not bind root"
    folder.chmod(0o755 if writable else 0o555)
    return None


def spool_disk_bytes(usable_bytes: int) -> int:
    """A disk that leaves the spool `usable_bytes` above the free space it keeps for everything else, and
    a page for the kept-through marker that lives beside it (producers/kept.py)."""
    return FREE_MARGIN + usable_bytes + MARKER_PAGE


@dataclass
class ProducerRun:
    number: int
    started_s: float
    ended_s: float | None = None
    ended_by: str = "running"  # "SIGTERM", "SIGKILL", "exit"
    exit_code: int | None = None
    stop_seconds: float | None = None  # from SIGTERM to exit
    log: Path | None = None

    def counts(self) -> dict[str, int]:
        """The counters of its closing log line (`producer finished: ...`); none if it was killed."""
        if self.log is None or not self.log.exists():
            return {}
        finished = [line for line in self.log.read_text(errors="replace").splitlines() if "producer finished:" in line]
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", finished[-1])} if finished else {}


@dataclass
class ProducerProcess:
    """`python -m producers` with fixed arguments, started again after each stop on the same spool."""

    argv: list[str]
    env: dict[str, str]
    log_dir: Path
    runs: list[ProducerRun] = field(default_factory=list)
    _process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> None:
        number = len(self.runs) + 1
        log = self.log_dir / f"producer-{number:02d}.log"
        self._log = log.open("wb")
        self._process = subprocess.Popen([sys.executable, "-m", "producers", *self.argv], env=self.env,
                                         stdout=self._log, stderr=subprocess.STDOUT)
        self.runs.append(ProducerRun(number, time.time(), log=log))

    def _ended(self, by: str, code: int, seconds: float | None = None) -> ProducerRun:
        run = self.runs[-1]
        run.ended_s, run.ended_by, run.exit_code, run.stop_seconds = time.time(), by, code, seconds
        if self._log is not None:
            self._log.close()
        self._process = None
        return run

    def terminate(self, deadline_s: float) -> ProducerRun:
        """SIGTERM, as ECS stops a task; SIGKILL if it outlives the deadline by 5 s (counted as a failure)."""
        assert self._process is not None
        started = time.monotonic()
        self._process.send_signal(signal.SIGTERM)
        try:
            code = self._process.wait(timeout=deadline_s + 5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._ended("SIGTERM, then SIGKILL past the deadline", self._process.wait(),
                               time.monotonic() - started)
        return self._ended("SIGTERM", code, time.monotonic() - started)

    def kill(self) -> ProducerRun:
        assert self._process is not None
        self._process.kill()
        return self._ended("SIGKILL", self._process.wait())

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None


def spooled_batches(spool_dir: Path) -> int:
    return len(list(spool_dir.glob(f"*{SUFFIX}")))


class StackService:
    """`ohlcv local up` in a thread: started, stopped (SIGTERM's path: intake closed, buffers delivered,
    events carried through) and started again on the same port and lake."""

    def __init__(self, lake: Path, spark: Callable[[], Any], port: int, faults: Callable[[], LocalFaults],
                 poll_every_s: float = 1.0, *, parameters: Mapping[str, str] | None = None) -> None:
        self.lake = lake
        self.parameters = dict(parameters or {})  # the template's, as a deploy would override them
        self.spark = spark
        self.port = port
        self.faults = faults
        self.poll_every_s = poll_every_s
        self.current: LocalStack | None = None
        self.stacks: list[LocalStack] = []
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _serve(self, started: threading.Event) -> None:
        def on_start(stack: LocalStack) -> None:
            self.current = stack
            self.stacks.append(stack)
            started.set()
        try:
            serve(self.lake, self.spark, port=self.port, poll_every_s=self.poll_every_s, parameters=self.parameters,
                  faults=self.faults(), twelvedata=None, twelvedata_port=0, stop=self._stop,
                  announce=self.lines.append, started=on_start)
        except BaseException as exc:  # noqa: BLE001 - surfaced by start() or stop()
            self._error = exc
            started.set()

    def start(self, timeout_s: float = 60.0) -> LocalStack:
        self._stop = threading.Event()
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), name="local-up", daemon=True)
        self._thread.start()
        if not started.wait(timeout_s) or self._error is not None:
            raise PipelineError(f"the local stack did not start: {self._error}")
        assert self.current is not None
        return self.current

    def stop(self, timeout_s: float = 600.0) -> LocalStack:
        assert self._thread is not None and self.current is not None
        self._stop.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise PipelineError(f"the local stack did not stop within {timeout_s:.0f} s")
        if self._error is not None:
            raise PipelineError(f"the local stack failed while stopping: {self._error}")
        return self.current

    def restart(self) -> LocalStack:
        self.stop()
        return self.start()


def wait_for(condition: Callable[[], bool], timeout_s: float, every_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return condition()


def producer_env(repair_every_s: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OHLCV_", "AWS_", "TWELVEDATA_"))}
    return {**env, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
            config.ENV_REPAIR_EVERY_S: str(repair_every_s), "PYTHONUNBUFFERED": "1"}
