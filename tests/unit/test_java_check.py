from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_stack.java import require_java
from ohlcv_core.errors import ConfigError


def test_without_java_the_message_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ConfigError, match="Install Java 17"):
        require_java()


def test_ohlcv_demo_stops_at_once_without_java(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"} | {"PATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "ohlcv_cli", "demo", "--lake", str(tmp_path / "lake")],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "Java was not found" in done.stderr and "openjdk-17" in done.stderr
    assert not (tmp_path / "lake").exists()
