"""`python -m chaos` (`make chaos`): the long chaos run, its report printed; exit 1 if it failed.
`python -m chaos soak` (`make soak`): the producer's soak (`chaos/soak.py`)."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from chaos.report import format_report
from chaos.run import ChaosSettings, run_chaos
from chaos.soak import SoakSettings, format_soak, run_soak
from glue_jobs.session import local_session
from local_stack.java import require_java


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["soak"]:
        return soak(argv[1:])
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
        print(format_report(report))  # (while the producer runs' logs, whose counts it prints, are there)
    return 0 if report.ok else 1


def soak(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="chaos soak", description=run_soak.__doc__)
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--per-second", type=float, default=1250.0, help="frames a second, per symbol (four)")
    parser.add_argument("--sigterms", type=int, default=20)
    parser.add_argument("--workdir", type=Path, help="kept after the run (default: a temporary folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = SoakSettings(seconds=args.seconds, per_second=args.per_second, sigterms=args.sigterms)
    with tempfile.TemporaryDirectory(prefix="ohlcv-soak-") as temporary:
        report = run_soak(settings, args.workdir or Path(temporary))
    print(format_soak(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
