"""The container health check: the producer rewrites a small status file while it is healthy; the
check passes while the file is fresh. `python -m producers.health FILE [--max-age 60]`"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson


def write_health(path: Path, status: dict[str, Any]) -> None:
    temp = path.with_suffix(path.suffix + ".tmp")
    temp.write_bytes(orjson.dumps({"ts": time.time(), **status}))
    os.replace(temp, path)


def is_healthy(path: Path, max_age_s: float, now: float | None = None) -> bool:
    try:
        age = (now or time.time()) - path.stat().st_mtime
    except OSError:
        return False
    return age <= max_age_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="producers.health", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--max-age", type=float, default=60.0)
    args = parser.parse_args(argv)
    return 0 if is_healthy(args.file, args.max_age) else 1


if __name__ == "__main__":
    sys.exit(main())
