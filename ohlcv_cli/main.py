"""`ohlcv <command>`: demo, query, produce, serve-twelvedata, generate-demo-feed."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ohlcv_core import config
from ohlcv_core.errors import OhlcvError

DEFAULT_LAKE = Path("lake")


def _lake(args: argparse.Namespace) -> Path:
    lake: Path = config.resolve(args.lake, os.environ, config.ENV_LAKE_DIR, DEFAULT_LAKE, Path)
    return lake


def _spark_factory() -> Callable[[], Any]:
    session: list[Any] = []

    def get() -> Any:
        if not session:
            from glue_jobs.session import local_session

            session.append(local_session())
        return session[0]

    return get


def cmd_demo(args: argparse.Namespace) -> int:
    from local_stack.demo import format_report, run_demo
    from local_stack.feeds import DEMO_FEED
    from local_stack.java import require_java

    require_java()
    recording = config.resolve(args.recording, os.environ, config.ENV_RECORDING, DEMO_FEED, Path)
    print(f"replaying {recording} through the local stack (lake: {_lake(args)}) ...", flush=True)
    result = run_demo(recording, _lake(args), spark=_spark_factory(), speed=args.speed)
    print(format_report(result))
    return 0


def _cell(value: Any) -> str:
    return "NULL" if value is None else str(value)


def cmd_query(args: argparse.Namespace) -> int:
    from local_stack.athena import LocalAthena
    from local_stack.s3 import LocalS3
    from local_stack.template import StackTemplate

    lake = _lake(args)
    result = LocalAthena(StackTemplate(), LocalS3(lake / "s3")).query(args.sql)
    rows = [[_cell(v) for v in row] for row in result.rows]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(result.columns)]
    print("  ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    print(f"({len(rows)} rows)")
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from producers.main import main as producer_main

    forwarded = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
                 if k in ("ws_url", "symbols", "stream", "firehose_endpoint", "region") and v]
    forwarded += ["--exit-on-close"] if args.exit_on_close else []
    return producer_main(forwarded)


def cmd_serve_twelvedata(args: argparse.Namespace) -> int:
    from local_stack.feeds import DEMO_FEED
    from local_stack.twelvedata.server import TwelveDataStandIn
    from ohlcv_core.recording import read_recording

    recording = read_recording(config.resolve(args.recording, os.environ, config.ENV_RECORDING, DEMO_FEED, Path))

    async def serve() -> None:
        stand_in = TwelveDataStandIn(recording, speed=args.speed, close_at_end=not args.keep_open)
        await stand_in.start(args.host, args.port)
        print(f"Twelve Data stand-in: WebSocket {stand_in.ws_url}  REST {stand_in.rest_url}/time_series", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


def cmd_generate_demo_feed(args: argparse.Namespace) -> int:
    from local_stack.feeds.generate_demo_feed import write

    print(write(Path(args.out)) if args.out else write())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ohlcv", description="Streaming OHLCV data engine")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole pipeline locally on a recording")
    demo.add_argument("--recording", type=Path, help="recording file (default: the bundled demo feed)")
    demo.add_argument("--lake", type=Path, help="lake folder (env OHLCV_LAKE_DIR, default ./lake); cleared first")
    demo.add_argument("--speed", type=float, default=0.0, help="replay speed factor; 0 = as fast as possible")
    demo.set_defaults(func=cmd_demo)

    query = sub.add_parser("query", help="run Athena SQL on the local lake (DuckDB)")
    query.add_argument("sql")
    query.add_argument("--lake", type=Path, help="lake folder (env OHLCV_LAKE_DIR, default ./lake)")
    query.set_defaults(func=cmd_query)

    produce = sub.add_parser("produce", help="stream from Twelve Data (or the stand-in) into Firehose")
    from producers.main import add_arguments

    add_arguments(produce)
    produce.set_defaults(func=cmd_produce)

    serve = sub.add_parser("serve-twelvedata", help="serve a recording over Twelve Data's protocol")
    serve.add_argument("--recording", type=Path)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--speed", type=float, default=1.0)
    serve.add_argument("--keep-open", action="store_true", help="do not close sockets at the end of the recording")
    serve.set_defaults(func=cmd_serve_twelvedata)

    gen = sub.add_parser("generate-demo-feed", help="regenerate the bundled demo recording (seeded)")
    gen.add_argument("--out", help="output path (default: the bundled file)")
    gen.set_defaults(func=cmd_generate_demo_feed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except OhlcvError as exc:
        print(f"ohlcv {args.command}: {exc}", file=sys.stderr)
        return 2
