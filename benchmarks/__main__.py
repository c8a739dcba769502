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

# name -> "module:function"; each function returns list[Measurement]. Benchmarks live beside their component.
REGISTRY = {
    "transform": "firehose_transform.bench_transform:run",
    "producer": "producers.bench_producer:run",
    "compaction": "glue_jobs.bench_compaction:run",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*REGISTRY, []], help="which (default: all)")
    parser.add_argument("--out", type=Path, default=Path(".bench/results.json"))
    args = parser.parse_args(argv)
    measurements: list[Measurement] = []
    for name in args.names or list(REGISTRY):
        module_name, _, function = REGISTRY[name].partition(":")
        print(f"running {name} ...", file=sys.stderr, flush=True)
        measurements += getattr(importlib.import_module(module_name), function)()
    print(format_table(measurements))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "python": platform.python_version(),
        "machine": platform.machine(), "measurements": [dataclasses.asdict(m) | {"ratio": m.ratio}
                                                        for m in measurements]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
