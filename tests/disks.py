"""Real small and read-only disks for failure tests: a tmpfs mounted for the test (the test machines and
CI run as root). Where mounting is not permitted the test is skipped, saying why."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.harness import set_writable, small_disk


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    with small_disk(folder, size) as done:
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        yield folder


def make_read_only(folder: Path) -> None:
    why = set_writable(folder, False, on_tmpfs=True)
    assert why is None, why
