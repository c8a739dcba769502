"""The local Spark needs Java: say what to install before anything else starts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from ohlcv_core.errors import ConfigError

INSTALL_HINT = ("Install Java 17 (Glue 5 runs Spark on Java 17): Debian/Ubuntu `sudo apt-get install "
                "openjdk-17-jre-headless`, macOS `brew install openjdk@17`, or set JAVA_HOME to a JDK 17.")


def find_java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def require_java() -> str:
    java = find_java()
    if java is None:
        raise ConfigError(f"Java was not found. {INSTALL_HINT}")
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"`{java} -version` failed ({exc}). {INSTALL_HINT}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise ConfigError(f"cannot tell the version of {java}. {INSTALL_HINT}")
    major = int(match.group(1)) if match.group(1) != "1" else int(match.group(2) or 0)
    if major not in (8, 11, 17):
        raise ConfigError(f"{java} is Java {major}; Spark 3.5 runs on 8, 11 or 17. {INSTALL_HINT}")
    return java
