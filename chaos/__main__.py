"""`python -m chaos` (`make chaos`): the long chaos run, its report printed; exit 1 if it failed."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from chaos.report import format_report
from chaos.run import ChaosSettings, run_chaos
from glue_jobs.session import local_session
from local_stack.java import require_java


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=600, help="of live feed")
    parser.add_argument("--per-second", type=float, default=20.0, help="ticks a second, per symbol")
    parser.add_argument("--rounds", type=int, default=3, help="each fault this many times")
    parser.add_argument("--workdir", type=Path, help="kept after the run (default: a temporary folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    require_java()
    settings = ChaosSettings(seed=args.seed, seconds=args.seconds, per_second=args.per_second, rounds=args.rounds,
                             pause_s=(5.0, 20.0))
    spark = local_session("ohlcv-chaos", shuffle_partitions=2)
    with tempfile.TemporaryDirectory(prefix="ohlcv-chaos-") as temporary:
        report = run_chaos(settings, args.workdir or Path(temporary), spark)
    print(format_report(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
