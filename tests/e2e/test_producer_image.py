"""The producer image, built as its Dockerfile builds it where no Docker engine runs: the files it copies
into a clean folder, `pip install .` into a fresh virtual environment (the base dependencies only), then
the commands the task definitions run: the producer's help, the backfill's, and the health check."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stack_tools.template import StackTemplate

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "producers" / "Dockerfile").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The image's Python: the Dockerfile's COPY lines into a build folder, installed as its RUN does."""
    build = tmp_path_factory.mktemp("image")
    app = build / "app"
    app.mkdir()
    for sources, _ in re.findall(r"^COPY (.+?) (\S+)$", DOCKERFILE, re.M):
        for source in sources.split():
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(path, app / source, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(path, app / source)
    subprocess.run([sys.executable, "-m", "venv", str(build / "venv")], check=True)
    python = build / "venv" / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", "."], cwd=app,
                               capture_output=True, text=True, timeout=600, check=False)
    assert installed.returncode == 0, installed.stderr[-2000:]
    return python


def _run(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # from a folder without the repository, so only what was installed can be imported
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={}, check=False)


def test_the_image_installs_only_the_base_dependencies(image: Path, tmp_path: Path) -> None:
    listed = _run(image, "-m", "pip", "list", "--format", "freeze", cwd=tmp_path).stdout.lower()
    assert "boto3==" in listed and "websockets==" in listed
    for heavy in ("pyspark", "duckdb", "dash", "aws-lambda-powertools"):
        assert f"{heavy}==" not in listed


def test_the_commands_the_task_definitions_run(image: Path, tmp_path: Path) -> None:
    assert _run(image, "-m", "producers", "--help", cwd=tmp_path).returncode == 0
    backfill = StackTemplate().task_definitions()
    (command,) = [c.command for d in backfill for c in d.containers if c.command]
    helped = _run(image, "-m", "producers", command[0], "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "today-N" in helped.stdout


def test_the_health_check_fails_until_the_file_is_fresh(image: Path, tmp_path: Path) -> None:
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
