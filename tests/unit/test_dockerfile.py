"""The producer image's promises, checked where no Docker engine runs (CI has none)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "producers" / "Dockerfile").read_text(encoding="utf-8")


def test_slim_non_root_with_a_health_check_and_the_same_entry_point() -> None:
    assert re.search(r"^FROM python:3\.11-slim$", DOCKERFILE, re.M)
    user = re.search(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert user and user.group(1) not in ("root", "0")
    assert 'CMD ["python", "-m", "producers.health"' in DOCKERFILE
    assert 'ENTRYPOINT ["python", "-m", "producers"]' in DOCKERFILE


def test_the_image_installs_the_producers_lock_and_resolves_nothing() -> None:
    assert "COPY locks/producers.txt ./locks/" in DOCKERFILE
    (install,) = re.findall(r"pip install[^\n&]*", DOCKERFILE)
    assert install.rstrip(" \\").split() == ["pip", "install", "--no-cache-dir", "--require-hashes", "--no-deps", "-r",
                               "locks/producers.txt"]


def test_the_image_has_every_module_the_producer_imports() -> None:
    """Copied: ohlcv_core and producers only. Nothing in them may import the rest of the stack."""
    copied = set(re.findall(r"^COPY (\w+) \./", DOCKERFILE, re.M))
    assert copied == {"ohlcv_core", "producers"}
    offenders = []
    for package in copied:
        for path in (ROOT / package).rglob("*.py"):
            if path.name.startswith("bench_"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n and n.split(".")[0] in (
                    "local_stack", "glue_jobs", "firehose_transform", "job_trigger", "pyspark", "duckdb",
                    "aws_lambda_powertools", "tests")]
    assert offenders == []
