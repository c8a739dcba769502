"""Run the benchmarks: `python -m benchmarks [name ...]`; results also go to .bench/results.json."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import platform
import sys
import time
from pathlib import Path

from benchmarks.report import Measurement, format_table

# name -> module of benchmarks/ (one per component); each has run(*, tiny) -> list[Measurement].
REGISTRY = ("transform", "producer", "compaction", "quality", "backfill", "sql", "dashboard", "freshness",
            "daily_layout")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*REGISTRY, []], help="which (default: all)")
    parser.add_argument("--out", type=Path, default=Path(".bench/results.json"))
    parser.add_argument("--tiny", action="store_true", help="the smoke-test scale: seconds, figures not comparable")
    args = parser.parse_args(argv)
    measurements: list[Measurement] = []
    for name in args.names or list(REGISTRY):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        measurements += importlib.import_module(f"benchmarks.{name}").run(tiny=args.tiny)
        print(f"{name} took {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    print(format_table(measurements))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "python": platform.python_version(),
        "machine": platform.machine(), "tiny": args.tiny, "measurements": [dataclasses.asdict(m) | {"ratio": m.ratio}
                                                        for m in measurements]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
