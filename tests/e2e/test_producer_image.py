"""The producer image, built as its Dockerfile builds it where no Docker engine runs: the files it copies
into a clean folder, its RUN's `pip install` of the producer's lock into a fresh virtual environment,
then the commands the task definitions run (the producer's help, the backfill's, the health check) with
only the image's PYTHONPATH: nothing of this checkout, nothing installed but the lock."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from stack_tools.lock import pinned_versions, read_lock
from stack_tools.template import StackTemplate

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "producers" / "Dockerfile").read_text(encoding="utf-8")
WORKDIR = re.search(r"^WORKDIR (\S+)$", DOCKERFILE, re.M).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The image's Python and its WORKDIR: the Dockerfile's COPY lines into a build folder, its pip install run."""
    build = tmp_path_factory.mktemp("image")
    app = build / "app"
    app.mkdir()
    for sources, target in re.findall(r"^COPY (.+?) (\S+)$", DOCKERFILE, re.M):
        for source in sources.split():
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(path, app / target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                (app / target).mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, app / target / path.name)
    subprocess.run([sys.executable, "-m", "venv", str(build / "venv")], check=True)
    python = build / "venv" / "bin" / "python"
    run = re.search(r"^RUN (pip install [^&\n]+?)\s*\\?$", DOCKERFILE, re.M)
    assert run, "the Dockerfile installs nothing with pip"
    installed = subprocess.run([str(python), "-m", *shlex.split(run.group(1))], cwd=app,
                               capture_output=True, text=True, timeout=600, check=False)
    assert installed.returncode == 0, installed.stderr[-2000:]
    return python, app


def _run(image: tuple[Path, Path], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # from a folder without the repository, with the image's PYTHONPATH (its WORKDIR) and nothing else
    python, app = image
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={"PYTHONPATH": str(app)}, check=False)


def test_the_image_installs_exactly_the_producers_lock(image: tuple[Path, Path], tmp_path: Path) -> None:
    assert re.search(r"^ENV [^\n]*(?:\\\n[^\n]*)*PYTHONPATH=" + re.escape(WORKDIR), DOCKERFILE, re.M)
    listed = _run(image, "-m", "pip", "list", "--format", "freeze", cwd=tmp_path).stdout.lower()
    installed = {str(canonicalize_name(n)): v for n, v in (line.split("==") for line in listed.split() if "==" in line)}
    installed.pop("pip", None)
    installed.pop("setuptools", None)  # the venv's own, as python:3.11-slim has its own
    assert installed == {name: version for name, version in pinned_versions(
        read_lock(ROOT / "locks" / "producers.txt")).items()}
    for heavy in ("pyspark", "duckdb", "dash", "aws-lambda-powertools"):
        assert heavy not in installed


def test_the_commands_the_task_definitions_run(image: tuple[Path, Path], tmp_path: Path) -> None:
    assert _run(image, "-m", "producers", "--help", cwd=tmp_path).returncode == 0
    backfill = StackTemplate().task_definitions()
    (command,) = [c.command for d in backfill for c in d.containers if c.command]
    helped = _run(image, "-m", "producers", command[0], "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "today-N" in helped.stdout


def test_the_health_check_fails_until_the_file_is_fresh(image: tuple[Path, Path], tmp_path: Path) -> None:
    (container,) = [c for d in StackTemplate().task_definitions() for c in d.containers if c.health_check]
    check = list(container.health_check[1:])  # after `python`
    health = tmp_path / "producer-health.json"
    command = [a if a != "/tmp/producer-health.json" else str(health) for a in check]
    assert _run(image, *command, cwd=tmp_path).returncode == 1
    health.write_text('{"frames": 1}', encoding="utf-8")
    assert _run(image, *command, cwd=tmp_path).returncode == 0
    stale = time.time() - 120
    os.utime(health, (stale, stale))
    assert _run(image, *command, cwd=tmp_path).returncode == 1
