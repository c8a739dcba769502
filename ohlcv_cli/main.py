"""The `ohlcv` command: one subcommand per job (`ohlcv --help` lists them)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ohlcv_cli.lake_args import add_dashboard_parser, add_demo_parser, add_query_parser
from ohlcv_core import config
from ohlcv_core.errors import ConfigError, OhlcvError

DEFAULT_LAKE = Path("lake")


def _lake(args: argparse.Namespace) -> Path:
    lake: Path = config.resolve(args.lake, os.environ, config.ENV_LAKE_DIR, DEFAULT_LAKE, Path)
    return lake


def _existing_lake(args: argparse.Namespace) -> Path:
    """The lake a reading command reads: a folder that is not there is a mistyped path, not an empty lake."""
    lake = _lake(args)
    if not lake.is_dir():
        raise ConfigError(f"no lake at {lake} (--lake, or {config.ENV_LAKE_DIR}): `ohlcv demo` or "
                          "`ohlcv local up` makes one")
    return lake


def _spark_factory() -> Callable[[], Any]:
    """The local Spark session, started at the first job run and kept. Runs start it on the Glue
    stand-in's one worker thread, where PySpark installs no SIGINT handler of its own: on the main thread
    it would replace ours, which stops `local up` gracefully (tests/e2e/test_local_up.py)."""

    @functools.cache
    def get() -> Any:
        from glue_jobs.session import local_session

        return local_session()

    return get


def cmd_demo(args: argparse.Namespace) -> int:
    from feeds import DEMO_FEED
    from local_stack.java import require_java
    from ohlcv_cli.demo import format_report, run_demo

    require_java()
    recording = config.resolve(args.recording, os.environ, config.ENV_RECORDING, DEMO_FEED, Path)
    print(f"replaying {recording} through the local stack (lake: {_lake(args)}) ...", flush=True)
    result = run_demo(recording, _lake(args), spark=_spark_factory(), speed=args.speed, via=args.via,
                      history=not args.no_history)
    print(format_report(result), flush=True)
    if args.no_serve:
        return 0
    from ohlcv_cli.dashboard import serve_dashboard

    return serve_dashboard(_lake(args), host="127.0.0.1", port=args.port, refresh_s=5.0)


def cmd_dashboard(args: argparse.Namespace) -> int:
    from ohlcv_cli.dashboard import serve_dashboard

    if args.stack or args.workgroup:
        from ohlcv_cli.dashboard import StackTarget
        target = StackTarget.resolve(args.stack, workgroup=args.workgroup, database=args.database,
                                     namespace=args.metrics_namespace)
        return serve_dashboard(target, host=args.host, port=args.port, refresh_s=args.refresh_s, region=args.region)
    return serve_dashboard(_lake(args), host=args.host, port=args.port, refresh_s=args.refresh_s)


def cmd_query(args: argparse.Namespace) -> int:
    from ohlcv_cli.query import run_query

    return run_query(args, _lake(args) if args.list else _existing_lake(args))  # (--list reads no lake)


def cmd_quality(args: argparse.Namespace) -> int:
    from ohlcv_cli.lake_args import date_range
    from ohlcv_cli.quality import format_result, run_local, start_on_aws

    dates = date_range(args.start, args.end)
    symbols = [s.strip() for s in (args.symbols or "").split(",") if s.strip()]
    if args.job_name:
        run_id = start_on_aws(args.job_name, dates, symbols, config.resolve_region(args.region, os.environ))
        print(f"started {args.job_name} run {run_id} for {len(dates)} dates; its results land in quality_results")
        return 0
    from local_stack.java import require_java

    require_java()
    result = run_local(_lake(args), dates, _spark_factory(), symbols=symbols, now=args.now, ruleset=args.ruleset)
    print(format_result(result))
    return 1 if result.blocking_failed else 0


def cmd_produce(args: argparse.Namespace) -> int:
    from producers.main import run

    return run(args)


def cmd_record(args: argparse.Namespace) -> int:
    from ohlcv_core.recording import Header, RecordingWriter
    from producers.recorder import record
    from producers.rest import TwelveDataRest
    from producers.settings import DEFAULT_WS_URL
    from producers.twelvedata_ws import resilient_stream

    symbols = config.symbols_setting(args.symbols, os.environ)
    ws_url = config.resolve(args.ws_url, os.environ, config.ENV_WS_URL, DEFAULT_WS_URL, str)
    api_key = os.environ.get(config.ENV_API_KEY) or None
    writer = RecordingWriter(args.out, args.name, Header(symbols, note=f"recorded from {ws_url}"),
                             max_bytes=int(args.max_mb * 1024 * 1024), max_age_s=args.max_minutes * 60)
    rest = TwelveDataRest(args.rest_url, api_key) if args.rest_url else None

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if args.duration:
            loop.call_later(args.duration, stop.set)
        stream = resilient_stream(ws_url, symbols, api_key=api_key, exit_on_close=args.exit_on_close)
        stats = await record(stream, writer, symbols=symbols, rest=rest, rest_interval_s=args.rest_interval,
                             stop=stop)
        print(f"recorded {stats.frames} frames over {stats.connections} connection(s), {stats.disconnects} "
              f"disconnect(s), {stats.rest_exchanges} REST responses", file=sys.stderr)

    try:
        asyncio.run(run())
    finally:
        writer.close()
        for path in writer.paths:
            print(path)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from ohlcv_core.recording import read_recording
    from producers.aws import firehose_client
    from producers.main import replay

    recording = read_recording(args.recording)
    stream = config.resolve(args.stream, os.environ, config.ENV_FIREHOSE_STREAM, None, str)
    endpoint = args.firehose_endpoint or os.environ.get(config.ENV_FIREHOSE_ENDPOINT) or None
    region = config.resolve_region(args.region, os.environ)
    stats, sink = asyncio.run(replay(recording, stream, firehose_client(region, endpoint), speed=args.speed,
                                     start_offset_s=args.start, show_progress=sys.stderr.isatty()))
    print(f"replayed {stats.frames_received} entries as {sink.stats.records_sent} records to {stream}",
          file=sys.stderr)
    return 0


def cmd_serve_twelvedata(args: argparse.Namespace) -> int:
    from feeds import DEMO_FEED
    from local_stack.twelvedata.history import history_file, published_history, read_series
    from local_stack.twelvedata.server import CreditLimit, Faults, TwelveDataStandIn
    from ohlcv_core.recording import read_recording

    recording = read_recording(config.resolve(args.recording, os.environ, config.ENV_RECORDING, DEMO_FEED, Path))
    faults = Faults(refuse_auth=args.refuse_auth, drop_after_frames=args.drop_after,
                    stall_after_frames=args.stall_after, rest_429_burst=args.rest_429_burst)
    credits = CreditLimit(args.credits_per_minute) if args.credits_per_minute else None
    files = [history_file(path) for path in args.history]
    if args.published_history:
        published = list(published_history())
        if not published:
            raise ConfigError("--published-history needs backtesting.py (pip install --no-deps backtesting)")
        files += published
    history = [read_series(file) for file in files]
    stand_in = TwelveDataStandIn(recording, speed=args.speed, close_at_end=not args.keep_open and not args.live,
                                 api_key=args.api_key, faults=faults, credits=credits, live=args.live,
                                 history=history)

    async def serve() -> None:
        try:
            await stand_in.start(args.host, args.port)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
        print(f"Twelve Data stand-in: WebSocket {stand_in.ws_url}  REST {stand_in.rest_url}/time_series", flush=True)
        for series in history:
            meta = series.meta
            print(f"  history: {meta['symbol']} {meta['interval']}, {len(series.bars):,} bars", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await stand_in.stop()

    asyncio.run(serve())
    stats = stand_in.stats
    print(f"served {stats.frames_sent:,} frames over {stats.connections} connection(s), {stats.rest_requests} REST "
          f"requests ({stats.rest_refused} refused)", flush=True)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from producers.backfill_main import run

    return run(args)


def cmd_local_up(args: argparse.Namespace) -> int:
    from local_stack.firehose.server import FirehoseFaults
    from local_stack.java import require_java
    from local_stack.stack import LocalFaults
    from ohlcv_cli.demo import REPLAY_PARAMETERS
    from ohlcv_cli.local_up import serve, stop_on_signals
    from ohlcv_core.recording import read_recording

    require_java()
    stop = threading.Event()
    stop_on_signals(stop)
    faults = LocalFaults(FirehoseFaults(args.throttle_rate, args.partial_failure_rate, args.seed),
                         args.lambda_error_rate)
    from stack_tools.deploy import parse_parameters
    from stack_tools.template import StackTemplate

    # the stack's parameters, as `ohlcv deploy --parameter` gives them, checked before a lake is made
    parameters = {**(REPLAY_PARAMETERS if args.replay_window else {}), **parse_parameters(args.parameter or [])}
    StackTemplate(parameters=parameters)
    if not 0 <= args.glue_startup_seconds <= 600:
        raise ConfigError(f"--glue-startup-seconds must be 0 to 600, not {args.glue_startup_seconds}")
    serve(_lake(args), _spark_factory(), port=args.port, poll_every_s=args.poll_every, parameters=parameters,
          faults=faults, twelvedata=read_recording(args.twelvedata) if args.twelvedata else None,
          twelvedata_port=args.twelvedata_port, stop=stop, glue_startup_s=args.glue_startup_seconds)
    return 0


def cmd_local_status(args: argparse.Namespace) -> int:
    import requests

    try:
        status = requests.get(f"http://127.0.0.1:{args.port}/_local/status", timeout=5).json()
    except requests.RequestException as exc:
        print(f"ohlcv local status: no local stack on port {args.port} ({exc})", file=sys.stderr)
        return 2
    for stream in status["streams"]:
        print(f"stream {stream['name']}: {stream['records_in']} in, {stream['buffered_records']} buffered "
              f"({stream['buffered_bytes']} bytes, {stream['open_partitions']} partitions), {stream['delivered']} "
              f"delivered, {stream['dropped']} dropped, {stream['failed']} failed, {stream['objects']} objects "
              f"(+{stream['backup_objects']} backup), {stream['invocations']} transform invocations")
    api = status["api"]
    print(f"api: {api['throttled_calls']} throttled calls, {api['failed_puts']} failed puts (injected), "
          f"{api['refused_while_stopping']} refused while stopping")
    for function in status["functions"]:
        print(f"function {function['name']}: {function['invocations']} invocations, {function['errors']} errors")
    for queue in status["queues"]:
        print(f"queue {queue['name']}: {queue['pending']} pending, {queue['received']} received")
    for rule in status["rules"]:
        print(f"rule {rule['name']}: " + (f"{rule['matched']} matched" if rule["pattern"] else "")
              + (f"{rule['schedule']}, fired {rule['fired']} times" if rule["schedule"] else ""))
    for kind, count in status["skipped_targets"].items():
        print(f"targets not run locally ({kind}): {count} events")
    glue = status["glue"]
    print(f"glue jobs: {', '.join(glue['jobs'])}")
    for run in glue["runs"]:
        print(f"  {run['job']} {run['id']} {run['state']} attempt {run['attempt']} {run['seconds']} s "
              f"{run['error'] or ''}")
    print(f"lake: {status['lake']}")
    return 0


def cmd_generate_demo_feed(args: argparse.Namespace) -> int:
    from feeds.generate_demo_feed import write

    print(write(Path(args.out)) if args.out else write())
    return 0


def cmd_ddl(args: argparse.Namespace) -> int:
    from stack_tools import ddl
    from stack_tools.template import StackTemplate

    if bool(args.stack_name) != bool(args.account_id):
        raise ConfigError("give --stack-name and --account-id together (or neither, for placeholders)")
    concrete = bool(args.stack_name)
    template = StackTemplate(stack_name=args.stack_name, account_id=args.account_id) if concrete \
        else ddl.placeholder_template()
    print("\n".join(ddl.render(template, placeholders=not concrete).values()))
    return 0


def cmd_cost(args: argparse.Namespace) -> int:
    from stack_tools.cost import report, write_readme_section
    from stack_tools.deploy import parse_parameters
    from stack_tools.template import StackTemplate

    rate = args.quotes_per_second
    if rate is not None and not (rate >= 0 and rate < float("inf")):
        raise ConfigError(f"--quotes-per-second must be a number of at least 0, not {rate}")
    if args.write_readme:
        print(write_readme_section())
        return 0
    print("\n".join(report(StackTemplate(parameters=parse_parameters(args.parameter or [])), rate)))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from ohlcv_cli.simulate import main_report
    from stack_tools.deploy import parse_parameters
    from stack_tools.template import StackTemplate

    if not 1 <= args.days <= 31:
        raise ConfigError(f"--days must be 1 to 31, not {args.days}")
    parameters = parse_parameters(args.parameter or [])
    StackTemplate(parameters=parameters)  # every value checked as a deploy checks it
    print("\n".join(main_report(args.days, parameters)))
    return 0


def _operated(args: argparse.Namespace) -> tuple[Any, Any]:
    """(SQS client, the stack's queues and job): `--stack` names a deployed stack; else `local up --port`."""
    from ohlcv_cli.operate import sqs_client, target_of
    from stack_tools.template import StackTemplate

    region = config.resolve_region(args.region, os.environ)
    if args.stack:
        sqs = sqs_client(region)
        return sqs, target_of(StackTemplate(stack_name=args.stack), sqs)
    sqs = sqs_client(region, f"http://127.0.0.1:{args.port}")
    return sqs, target_of(StackTemplate(), sqs)


def cmd_compact(args: argparse.Namespace) -> int:
    from ohlcv_cli.lake_args import date_range
    from ohlcv_cli.operate import MAX_DATES, compact

    dates = date_range(args.start, args.end, limit=MAX_DATES)
    sqs, target = _operated(args)
    compact(sqs, target, dates)
    return 0


def cmd_migrate_lake(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from ohlcv_cli.operate import migrate_lake

    sqs, target = _operated(args)
    migrate_lake(sqs, target, datetime.now(UTC).date().isoformat())
    return 0


def cmd_redrive(args: argparse.Namespace) -> int:
    from glue_jobs.store import LocalStore, ObjectStore, S3Store
    from ohlcv_cli.demo import REPLAY_PARAMETERS
    from ohlcv_cli.redrive import parse_hour, redrive
    from ohlcv_core.window import TimeWindow
    from producers.aws import firehose_client
    from producers.firehose_sink import FirehoseSink
    from stack_tools.template import StackTemplate

    if args.dead_letters:
        from ohlcv_cli.operate import redrive_dead_letters

        if args.start or args.end or args.bucket:
            raise ConfigError("--dead-letters moves the dead-letter queues' messages back: it takes no "
                              "--from, --to or --bucket")
        sqs, target = _operated(args)
        redrive_dead_letters(sqs, target)
        return 0
    if not (args.start and args.end):
        raise ConfigError("give --from and --to (hours, yyyy-MM-ddTHH), or --dead-letters")
    start, end = parse_hour(args.start), parse_hour(args.end)
    store: ObjectStore
    region = config.resolve_region(args.region, os.environ)
    if args.bucket:  # a deployed stack: its raw bucket, its stream, its transform's window
        import boto3

        if not (args.bucket.startswith("s3://") and args.stream and args.function):
            raise ConfigError("against a deployed stack give --bucket s3://<raw bucket>/, --stream and --function")
        session = boto3.session.Session(region_name=region)
        environment = session.client("lambda").get_function_configuration(FunctionName=args.function)
        window = TimeWindow.from_environ(environment.get("Environment", {}).get("Variables", {}))
        store, root = S3Store(session.client("s3")), args.bucket
        stream, client = args.stream, firehose_client(region)
    else:  # the local stack running as `ohlcv local up --port`
        template = StackTemplate(parameters=REPLAY_PARAMETERS if args.replay_window else None)
        settings = template.delivery_stream()
        if settings.processor is None:
            raise ConfigError("the delivery stream has no transform to redrive through")
        window = TimeWindow.from_environ(settings.processor.environment)
        store, root = LocalStore(), (_existing_lake(args).resolve() / "s3" / settings.destination.bucket).as_posix()
        stream, client = settings.name, firehose_client(region, f"http://127.0.0.1:{args.port}")
    report = redrive(store, root, FirehoseSink(client, stream), source=args.source, start=start, end=end,
                     window=window, dry_run=args.dry_run)
    print("\n".join(report.lines()))
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    from stack_tools.package import build

    for path in build(args.out, with_dependencies=not args.no_dependencies):
        print(path)
    return 0


def _aws_clients(region: str) -> tuple[Any, Any]:
    """CloudFormation and S3 for deploy/destroy: bounded timeouts and retries (AWS_ENDPOINT_URL, if set,
    points both elsewhere, as the deploy test points them at moto's server)."""
    import boto3
    from botocore.config import Config

    settings = Config(region_name=region, connect_timeout=10, read_timeout=60,
                      retries={"max_attempts": 5, "mode": "standard"})
    return boto3.client("cloudformation", config=settings), boto3.client("s3", config=settings)


def _aws_errors(call: Callable[[], object]) -> int:
    """An AWS refusal or missing credentials is the user's to fix: one line, exit 2."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        call()
    except (ClientError, BotoCoreError) as exc:
        raise ConfigError(f"AWS said: {exc}") from None
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from stack_tools.deploy import DeployRequest, deploy, parse_parameters

    region = config.resolve_region(args.region, os.environ)
    request = DeployRequest(args.stack, args.bucket, region, parse_parameters(args.parameter or []),
                            with_dependencies=not args.no_dependencies)
    cloudformation, s3 = _aws_clients(region)  # (no call yet: deploy checks the request first)
    return _aws_errors(lambda: deploy(request, cloudformation=cloudformation, s3=s3))


def cmd_destroy(args: argparse.Namespace) -> int:
    from stack_tools.deploy import destroy

    if not args.yes:
        raise ConfigError(f"destroy deletes stack {args.stack} and every object in its buckets: add --yes")
    cloudformation, s3 = _aws_clients(config.resolve_region(args.region, os.environ))
    return _aws_errors(lambda: destroy(args.stack, cloudformation=cloudformation, s3=s3))


Subparsers = Any  # argparse's _SubParsersAction is private


def _port(text: str) -> int:
    """A TCP port; 0 lets the system choose one."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


def _add_stand_in_parser(sub: Subparsers) -> None:
    serve = sub.add_parser("serve-twelvedata", help="serve a recording over Twelve Data's protocol")
    serve.add_argument("--recording", type=Path)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=8765)
    serve.add_argument("--speed", type=float, default=1.0)
    serve.add_argument("--keep-open", action="store_true", help="do not close sockets at the end of the recording")
    serve.add_argument("--live", action="store_true", help="one timeline for every client: a client that "
                                                           "reconnects resumes where the feed is now")
    serve.add_argument("--history", type=Path, action="append", default=[],
                       help="also serve this CSV of bars (its meta in <name>.meta.json beside it); repeatable")
    serve.add_argument("--published-history", action="store_true",
                       help="also serve the real history backtesting.py ships (GOOG daily, EUR/USD hourly, "
                            "BTC/USD monthly)")
    serve.add_argument("--api-key", help="accept only this key (query, X-TD-APIKEY or Authorization header)")
    serve.add_argument("--credits-per-minute", type=int, help="REST budget; past it, Twelve Data's 429")
    serve.add_argument("--refuse-auth", action="store_true", help="fault: answer everything with 401")
    serve.add_argument("--drop-after", type=int, help="fault: abort the first connection after N frames")
    serve.add_argument("--stall-after", type=int, help="fault: go silent after N frames")
    serve.add_argument("--rest-429-burst", type=int, default=0, help="fault: the next N REST calls get 429")
    serve.set_defaults(func=cmd_serve_twelvedata)


def _add_record_and_replay_parsers(sub: Subparsers) -> None:
    rec = sub.add_parser("record", help="record a Twelve Data session (or a compatible server's)")
    rec.add_argument("--ws-url", help="WebSocket URL (env OHLCV_TWELVEDATA_WS_URL; key from TWELVEDATA_API_KEY)")
    rec.add_argument("--rest-url", help="REST base URL for time_series during the session (e.g. "
                                        "https://api.twelvedata.com); none: streaming only")
    rec.add_argument("--symbols", help="comma list (env OHLCV_SYMBOLS)")
    rec.add_argument("--out", type=Path, default=Path("recordings"), help="folder for the files")
    rec.add_argument("--name", default="twelvedata", help="file name stem")
    rec.add_argument("--rest-interval", type=float, default=300.0, help="seconds between REST fetches")
    rec.add_argument("--max-mb", type=float, default=256.0, help="rotate after this many compressed MiB")
    rec.add_argument("--max-minutes", type=float, default=60.0, help="rotate after this many minutes")
    rec.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    rec.add_argument("--exit-on-close", action="store_true", help="stop when the server closes normally")
    rec.set_defaults(func=cmd_record)

    rep = sub.add_parser("replay", help="send a recording through the producer path to Firehose")
    rep.add_argument("recording", type=Path)
    rep.add_argument("--stream", help="delivery stream (env OHLCV_FIREHOSE_STREAM)")
    rep.add_argument("--firehose-endpoint", help="endpoint URL, e.g. the local stack's (env OHLCV_FIREHOSE_ENDPOINT)")
    rep.add_argument("--region", help="AWS region (env AWS_REGION)")
    rep.add_argument("--speed", type=float, default=1.0, help="1 = recorded pace, 10 = ten times faster, 0 = max")
    rep.add_argument("--from", dest="start", type=float, default=0.0, help="start this many seconds in")
    rep.set_defaults(func=cmd_replay)


def _add_local_parsers(sub: Subparsers) -> None:
    local = sub.add_parser("local", help="the local stack as a service")
    local_sub = local.add_subparsers(dest="local_command", required=True)
    up = local_sub.add_parser("up", help="run the local stack until Ctrl-C (graceful stop)")
    up.add_argument("--lake", type=Path, help="lake folder (env OHLCV_LAKE_DIR, default ./lake); kept")
    up.add_argument("--port", type=_port, default=4573, help="Firehose endpoint port on 127.0.0.1")
    up.add_argument("--poll-every", type=float, default=5.0,
                    help="seconds between checks of the trigger's batch (size and window from the template)")
    up.add_argument("--replay-window", action="store_true",
                    help="accept old event times (deploy the transform as a replay stack)")
    up.add_argument("--parameter", action="append", metavar="NAME=VALUE",
                    help="a stack parameter, as `ohlcv deploy` takes it (repeatable), e.g. DailyTopUp=true")
    up.add_argument("--twelvedata", type=Path, help="also serve this recording as a Twelve Data stand-in")
    up.add_argument("--twelvedata-port", type=_port, default=8765)
    up.add_argument("--throttle-rate", type=float, default=0.0, help="fault: share of Put calls throttled")
    up.add_argument("--partial-failure-rate", type=float, default=0.0, help="fault: share of records failed")
    up.add_argument("--lambda-error-rate", type=float, default=0.0, help="fault: share of invocations failing")
    up.add_argument("--seed", type=int, default=0, help="seed of the injected faults")
    up.add_argument("--glue-startup-seconds", type=float, default=0.0,
                    help="each Glue run waits this long before its script, as Glue's start-up (10-30 s on AWS)")
    up.set_defaults(func=cmd_local_up)
    status = local_sub.add_parser("status", help="streams, buffers, objects, job runs of a running local stack")
    status.add_argument("--port", type=_port, default=4573)
    status.set_defaults(func=cmd_local_status)


def _add_quality_parser(sub: Subparsers) -> None:
    quality = sub.add_parser("quality", help="judge the curated bars of a date range with the quality ruleset")
    quality.add_argument("--from", dest="start", required=True, help="first date, yyyy-MM-dd")
    quality.add_argument("--to", dest="end", required=True, help="last date, yyyy-MM-dd (included)")
    quality.add_argument("--symbols", help="comma list: judge only these symbols' bars")
    quality.add_argument("--lake", type=Path, help="lake folder (env OHLCV_LAKE_DIR, default ./lake)")
    quality.add_argument("--now", help="judge freshness at this instant (ISO time, UTC) instead of now")
    quality.add_argument("--ruleset", type=Path, help="a DQDL file instead of the packaged ruleset")
    quality.add_argument("--job-name", help="deployed: start this Glue job (the stack's QualityJobName) instead")
    quality.add_argument("--region", help="deployed: AWS region (env AWS_REGION)")
    quality.set_defaults(func=cmd_quality)


def _add_stack_parsers(sub: Subparsers) -> None:
    """`ohlcv deploy` and `ohlcv destroy`."""
    deploying = sub.add_parser("deploy", help="package, upload and deploy the stack through a change set")
    deploying.add_argument("--stack", required=True, help="stack name (lower case; names its buckets and database)")
    deploying.add_argument("--bucket", required=True, help="an existing bucket for the artifacts and the template")
    deploying.add_argument("--region", help=f"AWS region (env AWS_REGION, default {config.DEFAULT_REGION})")
    deploying.add_argument("--parameter", action="append", metavar="NAME=VALUE",
                           help="a stack parameter (repeatable)")
    deploying.add_argument("--no-dependencies", action="store_true", help="leave the Lambdas' PyPI packages out")
    deploying.set_defaults(func=cmd_deploy)

    down = sub.add_parser("destroy", help="empty the stack's buckets and delete the stack")
    down.add_argument("--stack", required=True)
    down.add_argument("--region", help=f"AWS region (env AWS_REGION, default {config.DEFAULT_REGION})")
    down.add_argument("--yes", action="store_true", help="yes, delete the stack and its data")
    down.set_defaults(func=cmd_destroy)


def _add_planning_parsers(sub: Any) -> None:
    cost = sub.add_parser("cost", help="a deployed stack's monthly bill by component, from its parameters")
    cost.add_argument("--parameter", action="append", metavar="NAME=VALUE",
                      help="a stack parameter, as deploy takes it")
    cost.add_argument("--quotes-per-second", type=float,
                      help="the feed's average rate (default: ProducerSymbols' sessions at the measured rate)")
    cost.add_argument("--write-readme", action="store_true",
                      help="write the README's cost section (the default stack and a busy one)")
    cost.set_defaults(func=cmd_cost)
    simulate = sub.add_parser("simulate", help="days of the stack's queues, triggers and Glue runs on a simulated "
                                                "clock: runs a day, curated lag, Glue bill, dead letters")
    simulate.add_argument("--days", type=int, default=7, help="days of a feed around the clock (default 7), with "
                                                              "a ten-year daily and a month-long minute backfill")
    simulate.add_argument("--parameter", action="append", metavar="NAME=VALUE", help="a stack parameter")
    simulate.set_defaults(func=cmd_simulate)
    compact = sub.add_parser("compact", help="compact a date range: queued for the next compaction run")
    compact.add_argument("--from", dest="start", required=True, help="first date (yyyy-MM-dd)")
    compact.add_argument("--to", dest="end", required=True, help="last date (yyyy-MM-dd), included")
    compact.add_argument("--stack", help="a deployed stack's name (default: the running `local up`)")
    compact.add_argument("--port", type=_port, default=4573, help="local: the running local stack's port")
    compact.add_argument("--region", help="AWS region (env AWS_REGION)")
    compact.set_defaults(func=cmd_compact)

    migrate = sub.add_parser("migrate-lake", help="fold bars_1d's day partitions (the layout before a partition a "
                                                  "year) into years: queues a compaction run")
    migrate.add_argument("--stack", help="a deployed stack's name (default: the running `local up`)")
    migrate.add_argument("--port", type=_port, default=4573, help="local: the running local stack's port")
    migrate.add_argument("--region", help="AWS region (env AWS_REGION)")
    migrate.set_defaults(func=cmd_migrate_lake)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ohlcv", description="Streaming OHLCV data engine")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    add_demo_parser(sub).set_defaults(func=cmd_demo)

    add_query_parser(sub).set_defaults(func=cmd_query)

    add_dashboard_parser(sub).set_defaults(func=cmd_dashboard)

    _add_quality_parser(sub)

    produce = sub.add_parser("produce", help="stream from Twelve Data (or the stand-in) into Firehose")
    from producers.main import add_arguments

    add_arguments(produce)
    produce.set_defaults(func=cmd_produce)

    _add_stand_in_parser(sub)
    _add_record_and_replay_parsers(sub)
    _add_local_parsers(sub)

    ddl = sub.add_parser("ddl", help="the Glue tables' Athena DDL, from the template")
    ddl.add_argument("--stack-name", help="render for this deployed stack (with --account-id)")
    ddl.add_argument("--account-id", help="the stack's account")
    ddl.set_defaults(func=cmd_ddl)

    _add_planning_parsers(sub)

    redo = sub.add_parser("redrive", help="send failed records (or the source backup) through the transform again")
    redo.add_argument("--from", dest="start", help="first hour, UTC (yyyy-MM-ddTHH)")
    redo.add_argument("--to", dest="end", help="end hour, UTC, excluded")
    redo.add_argument("--dead-letters", action="store_true",
                      help="instead: move what the dead-letter queues hold back to their queues (local, or --stack)")
    redo.add_argument("--stack", help="with --dead-letters: the deployed stack's name")
    redo.add_argument("--source", choices=["errors", "backup"], default="errors",
                      help="the error prefix's records (default) or the source-record backup")
    redo.add_argument("--dry-run", action="store_true", help="report what would pass, send nothing")
    redo.add_argument("--lake", type=Path, help="local: the lake of `ohlcv local up` (env OHLCV_LAKE_DIR)")
    redo.add_argument("--port", type=_port, default=4573, help="local: the running local stack's port")
    redo.add_argument("--replay-window", action="store_true", help="local: as `local up --replay-window`")
    redo.add_argument("--bucket", help="deployed: the raw bucket, s3://<name>/")
    redo.add_argument("--stream", help="deployed: the delivery stream")
    redo.add_argument("--function", help="deployed: the transform function (its window decides)")
    redo.add_argument("--region", help="AWS region (env AWS_REGION)")
    redo.set_defaults(func=cmd_redrive)

    backfill = sub.add_parser("backfill", help="load Twelve Data history into the lake (resumable, credits-aware)")
    from producers.backfill_main import add_arguments as add_backfill_arguments

    add_backfill_arguments(backfill)
    backfill.set_defaults(func=cmd_backfill)

    package = sub.add_parser("package", help="build the stack's Lambda bundles and Glue artifacts")
    package.add_argument("--out", type=Path, default=Path("dist"), help="laid out as the artifact bucket")
    package.add_argument("--no-dependencies", action="store_true", help="leave the Lambdas' PyPI packages out")
    package.set_defaults(func=cmd_package)

    _add_stack_parsers(sub)

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
    except OSError as exc:  # the machine said no (a file, a folder, a port): the user's to fix, in one line
        where = f": {exc.filename}" if exc.filename else ""
        print(f"ohlcv {args.command}: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
