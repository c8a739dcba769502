"""`ohlcv cost`: a deployed stack's monthly bill by component, before it is deployed.

Every figure comes from one of three places: the template with the parameters given (intervals, sizes,
retention, the producer's task, the alarms and dashboards it declares), the sizes measured here
(`MEASURED`, each with where it was measured), and the published prices of `stack_tools/prices.json`
(with the date they were read). The README's cost section is this module's output (`readme_section`),
and `tests/unit/test_cost.py` keeps the two equal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from ohlcv_core.errors import ConfigError
from ohlcv_core.limits import HOT_PATH_LINGER_S
from stack_tools.template import GlueJobSettings, StackTemplate

PRICES = Path(__file__).resolve().parent / "prices.json"
README = Path(__file__).resolve().parent.parent / "README.md"
LIVE_VIEW = Path(__file__).resolve().parent.parent / "sql" / "views" / "bars_1m_live.sql"
BEGIN, END = "<!-- ohlcv cost: begin -->", "<!-- ohlcv cost: end -->"
HOURS_A_MONTH = 730
DAYS_A_MONTH = HOURS_A_MONTH / 24


@dataclass(frozen=True)
class Measured:
    """Sizes and times measured in this repository (docs/performance.md says how)."""

    envelope_bytes: int = 247  # a streamed quote's packed envelope, as the producer sends it
    raw_line_bytes: int = 420  # the same quote as a raw-zone line after the transform
    bar_1m_bytes: int = 36  # a curated 1-minute bar in Parquet
    transform_s: float = 0.06  # one transform invocation on a 0.2 MB buffer
    trigger_s: float = 0.05  # one trigger invocation
    glue_run_s: float = 50.0  # a cadence run of a quiet streaming day's dates on 2 G.1X workers
    glue_events_per_s: float = 2_000_000.0  # 250,000 events a core-second on 2 G.1X workers (8 vCPU)
    quotes_per_symbol_s: float = 1.0  # while its market is open: the busy day's rate (the recording's is 0.5)
    log_bytes_per_invocation: int = 1_500  # a Lambda invocation's JSON log lines and EMF
    # Athena queries of one refresh of the page (the live candles' symbols and minutes, the pipeline's
    # symbols and freshness), counted by tests/functional/test_dashboard.py
    dashboard_queries: int = 4
    mapping_polls_a_month: int = 657_000  # an idle SQS event source mapping's long polls (5 pollers, 20 s)


MEASURED = Measured()
EQUITY_SESSION = 6.5 / 24 * 5 / 7  # the share of a week a US equity trades
BATCH_WINDOW_S = 60


@dataclass(frozen=True)
class Prices:
    values: Mapping[str, Any]

    @classmethod
    def load(cls, path: Path = PRICES) -> Prices:
        try:
            return cls(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the prices in {path}: {exc}") from exc

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


def glue_dpus(job: GlueJobSettings, prices: Prices) -> float:
    per_worker = prices["glue_dpu_per_worker"]
    if job.worker_type not in per_worker:
        raise ConfigError(f"{job.logical_id}: no DPU figure for worker type {job.worker_type!r}")
    return float(per_worker[job.worker_type]) * job.number_of_workers


def glue_run_cost(prices: Prices, job: GlueJobSettings, duration_s: float) -> float:
    """One run's bill: its DPUs for its length, a minute at least, at its execution class's rate."""
    rate = float(prices["glue_dpu_hour"][job.execution_class or "STANDARD"])
    billed = max(float(prices["glue_minimum_billed_seconds"]), duration_s)
    return glue_dpus(job, prices) * rate * billed / 3600


@dataclass(frozen=True)
class Line:
    component: str
    usd: float  # a month
    how: str


def symbols_rate(symbols: str) -> float:
    """Average quotes a second of a symbol list: a pair (forex, crypto) counted around the clock (the most
    it can cost), an equity during its US session."""
    items = [s.split(":", 1)[0] for s in symbols.split(",") if s]
    return sum(MEASURED.quotes_per_symbol_s * (1.0 if "/" in s else EQUITY_SESSION) for s in items)


def _glue_line(template: StackTemplate, prices: Prices, rate: float) -> Line:
    """The cadence bounds the runs of a feed that writes every interval (docs/compaction.md); a run rebuilds
    the dates it takes whole, on average half a day's events of the current date."""
    parameters, buffer_s = template.parameters, template.delivery_stream().destination.buffer_interval_s
    total, how = 0.0, []
    for job in template.glue_jobs():
        if job.logical_id == "QualityJob" and parameters.get("QualityAfterCompaction") == "false":
            continue
        interval = float(parameters["CompactionIntervalSeconds" if job.logical_id == "CompactionJob"
                                    else "QualityIntervalSeconds"])
        length = MEASURED.glue_run_s + rate * 43_200 / MEASURED.glue_events_per_s
        per_day = 0.0 if not rate else 86_400 / max(interval, buffer_s, length)
        total += per_day * DAYS_A_MONTH * glue_run_cost(prices, job, length)
        plural = "" if round(per_day) == 1 else "s"
        how.append(f"{per_day:.0f} {job.logical_id.removesuffix('Job').lower()} run{plural} a day")
    first = template.glue_jobs()[0]
    return Line("Glue", total, ", ".join(how) + f" of {glue_dpus(first, prices):g} DPU, {first.execution_class}, "
                "a minute billed at least")


def live_window_minutes(view: Path = LIVE_VIEW) -> int:
    """How far back the live view reads the hot path's copies: the one minute interval its SQL names."""
    intervals = [node for node in sqlglot.parse_one(view.read_text(encoding="utf-8"), read="trino")
                 .find_all(exp.Interval) if node.text("unit").upper() == "MINUTE"]
    if len(intervals) != 1:
        raise ConfigError(f"{view} names {len(intervals)} minute intervals: the hot path's window is one")
    return int(intervals[0].this.name)


def _hot_path_line(template: StackTemplate, prices: Prices, rate: float, *, ingestion: float,
                   memory_gb: float) -> tuple[Line, float]:
    """The hot path (LivePath): the record path's records once more (`ingestion`, their Firehose bill), in
    at most one call a linger, each call an object (no buffer) and a transform invocation. Returns it with
    the objects a second."""
    per_second = min(rate, 1 / HOT_PATH_LINGER_S)
    calls = per_second * HOURS_A_MONTH * 3600
    puts = calls * prices["s3_put_per_1000"] / 1000
    invocations = calls * (MEASURED.transform_s * memory_gb * prices["lambda_gb_second"]
                           + prices["lambda_requests_per_million"] / 1e6)
    logs = calls * MEASURED.log_bytes_per_invocation / 1024**3 * prices["cloudwatch_logs_ingested_gb"]
    buffer_s = template.delivery_stream().destination.buffer_interval_s
    return Line("Hot path (LivePath=true)", ingestion + puts + invocations + logs,
                f"{calls:,.0f} objects and transform invocations; the live view within seconds, not "
                f"{buffer_s}-{buffer_s * 3 // 2} s"), per_second


def estimate(template: StackTemplate, quotes_per_second: float | None = None,
             prices: Prices | None = None) -> tuple[list[Line], list[Line], float]:
    """(lines of the stack, lines billed apart, the quote rate used)."""
    prices = prices or Prices.load()
    p = template.parameters
    rate = symbols_rate(p["ProducerSymbols"]) if quotes_per_second is None else quotes_per_second
    quotes = rate * HOURS_A_MONTH * 3600
    stream = template.delivery_stream()
    lines: list[Line] = []

    def add(component: str, usd: float, how: str) -> None:
        lines.append(Line(component, usd, how))

    # Firehose: each record is billed in 5 KB steps; the producer packs the quotes of its linger into one
    per_record = max(1.0, min(rate * 0.02, 64 * 1024 / MEASURED.envelope_bytes))
    billed_kb = math.ceil(per_record * MEASURED.envelope_bytes / 1024 / prices["firehose_record_billing_kb"]) \
        * prices["firehose_record_billing_kb"]
    records = quotes / per_record
    add("Firehose ingestion", records * billed_kb / 1024**2 * prices["firehose_ingested_gb"],
        f"{records:,.0f} records of {per_record:.0f} quote(s), billed {billed_kb} KB each")
    flushes = HOURS_A_MONTH * 3600 / stream.destination.buffer_interval_s if rate else 0.0
    raw_gb = quotes * MEASURED.raw_line_bytes / 1024**3
    add("Firehose dynamic partitioning", raw_gb * prices["firehose_dynamic_partitioning_gb"]
        + flushes * prices["firehose_dynamic_partitioning_objects_per_1000"] / 1000,
        f"{raw_gb:,.2f} GB, {flushes:,.0f} objects (a partition a buffer interval)")
    transform = template.lambda_function(stream.processor.logical_id) if stream.processor else None
    invocations = max(quotes * MEASURED.envelope_bytes / max(stream.processor_buffer_bytes, 1),
                      HOURS_A_MONTH * 3600 / stream.processor_buffer_interval_s if rate else 0.0)
    memory_gb = (transform.memory_mb if transform else 128) / 1024
    trigger_gb = template.lambda_function("TriggerFunction").memory_mb / 1024
    trigger_invocations = flushes * 60 / max(BATCH_WINDOW_S, 1) if rate else 0.0
    gb_seconds = invocations * MEASURED.transform_s * memory_gb + trigger_invocations * MEASURED.trigger_s * trigger_gb
    requests = invocations + trigger_invocations
    add("Lambda", gb_seconds * prices["lambda_gb_second"] + requests * prices["lambda_requests_per_million"] / 1e6,
        f"{invocations:,.0f} transform and {trigger_invocations:,.0f} trigger invocations")
    lines.append(_glue_line(template, prices, rate))
    retention = float(p["RawRetentionDays"])
    stored_gb = raw_gb / DAYS_A_MONTH * retention + quotes / DAYS_A_MONTH * float(p["BackupRetentionDays"]) \
        * MEASURED.envelope_bytes / 1024**3 / 4  # the source backup is gzip'd (about 4x)
    puts = flushes * 2 + (HOURS_A_MONTH * 3600 / 300 if rate else 0.0)  # raw, error-free; source backup
    gets = flushes * 30  # a run reads the objects of the dates it takes
    add("S3", stored_gb * prices["s3_standard_gb_month"] + puts * prices["s3_put_per_1000"] / 1000
        + gets * prices["s3_get_per_1000"] / 1000,
        f"{stored_gb:,.1f} GB kept once {retention:.0f} days of raw fill, {puts:,.0f} PUTs, {gets:,.0f} GETs")
    mappings = len(template.event_source_mappings())
    add("SQS", mappings * MEASURED.mapping_polls_a_month * prices["sqs_requests_per_million"] / 1e6,
        f"{mappings} event source mappings' long polls")
    log_gb = (invocations + trigger_invocations) * MEASURED.log_bytes_per_invocation / 1024**3
    add("CloudWatch Logs", log_gb * prices["cloudwatch_logs_ingested_gb"], f"{log_gb:.2f} GB of log lines")
    tasks = int(p["ProducerDesiredCount"])
    (producer,) = [d for d in template.task_definitions() if any(c.health_check for c in d.containers)]
    vcpu, memory = int(producer.cpu) / 1024, int(producer.memory) / 1024
    add("Fargate (producer)", tasks * HOURS_A_MONTH * (vcpu * prices["fargate_vcpu_hour"]
                                                       + memory * prices["fargate_gb_hour"]),
        f"{tasks} task of {vcpu:g} vCPU and {memory:g} GB around the clock")
    add("Public IPv4 (producer)", tasks * HOURS_A_MONTH * prices["public_ipv4_hour"], f"{tasks} address")
    alarms = len(template.cfn.of_type("AWS::CloudWatch::Alarm"))
    add("CloudWatch alarms", alarms * prices["cloudwatch_alarm_month"], f"{alarms} alarms")
    dashboards = len(template.cfn.of_type("AWS::CloudWatch::Dashboard"))
    add("CloudWatch dashboard", dashboards * prices["cloudwatch_dashboard_month"],
        f"{dashboards} dashboard (free among an account's first three)")
    secrets = len(template.cfn.of_type("AWS::SecretsManager::Secret"))
    add("Secrets Manager", secrets * prices["secret_month"], f"{secrets} secret")
    hot_path, per_second = _hot_path_line(template, prices, rate, ingestion=lines[0].usd, memory_gb=memory_gb)
    if template.live_stream() is None:  # its bill beside the freshness it would buy, to decide on
        return lines, [*_billed_apart(template, prices, 0.0),
                       Line("Hot path, with LivePath=true", hot_path.usd, hot_path.how)], rate
    lines.append(hot_path)
    return lines, _billed_apart(template, prices, per_second * 60 * live_window_minutes()), rate


def _billed_apart(template: StackTemplate, prices: Prices, live_objects: float) -> list[Line]:
    """What the stack's readers spend: a refresh of `ohlcv dashboard --stack` and a load of QuickSight's
    sheets (each query of the live view opens the hot path's objects of its window), QuickSight's author."""

    def queries(count: int, live_reads: int) -> float:
        return float(count * prices["athena_minimum_mb"] / 1024**2 * prices["athena_tb_scanned"]
                     + live_reads * live_objects * prices["s3_get_per_1000"] / 1000)

    def how(count: int, live_reads: int) -> str:
        return (f"{count} queries, {prices['athena_minimum_mb']} MB each (the minimum billed)"
                + (f", {live_reads * live_objects:,.0f} hot-path objects read" if live_objects else ""))

    # a refresh of the page: one query of the live view (the candles') among its queries
    apart = [Line("Athena, a dashboard refresh", queries(MEASURED.dashboard_queries, 1),
                  how(MEASURED.dashboard_queries, 1))]
    for dashboard in (r for r in template.cfn.resources.values() if r.get("Type") == "AWS::QuickSight::Dashboard"):
        # shown when off too, as what a QuickSightPrincipalArn would add
        off = "" if template.cfn.of_type("AWS::QuickSight::Dashboard") else "with QuickSightPrincipalArn: "
        sheets = dashboard["Properties"]["Definition"]["Sheets"]
        visuals = sum(len(sheet["Visuals"]) for sheet in sheets)
        live = sum(len(sheet["Visuals"]) for sheet in sheets if sheet["SheetId"] == "live")
        apart += [Line("QuickSight author", prices["quicksight_author_month"], f"{off}one author a month"),
                  Line("QuickSight, sheets opened", queries(visuals, live),
                       f"{off}{how(visuals, live)}; a direct query a visual")]
    return apart


def report(template: StackTemplate, quotes_per_second: float | None = None) -> list[str]:
    prices = Prices.load()
    lines, apart, rate = estimate(template, quotes_per_second, prices)
    width = max(len(line.component) for line in [*lines, *apart])
    out = [f"Monthly estimate at {rate:,.2f} quotes/s ({prices['region']} prices of {prices['as_of']}):"]
    out += [f"  {line.component:<{width}}  ${line.usd:>8.2f}  {line.how}" for line in lines]
    out.append(f"  {'Total':<{width}}  ${sum(line.usd for line in lines):>8.2f}")
    out.append("Billed apart:")
    out += [f"  {line.component:<{width}}  ${line.usd:>8.5f}  {line.how}" if line.usd < 1 else
            f"  {line.component:<{width}}  ${line.usd:>8.2f}  {line.how}" for line in apart]
    return out


README_CASES: tuple[tuple[str, Mapping[str, str], float | None], ...] = (
    ("ohlcv cost --parameter ProducerDesiredCount=1", {"ProducerDesiredCount": "1"}, None),
    ("ohlcv cost --parameter ProducerDesiredCount=1 --parameter ProducerCpu=512 --parameter ProducerMemory=1024 \\\n"
     "    --quotes-per-second 2000", {"ProducerDesiredCount": "1", "ProducerCpu": "512", "ProducerMemory": "1024"},
     2000.0),
)


def readme_section() -> str:
    """The README's cost section's body: `ohlcv cost` for the default stack and for a busy one."""
    blocks = []
    for command, parameters, rate in README_CASES:
        body = "\n".join(report(StackTemplate(parameters=parameters), rate))
        blocks.append(f"```\n$ {command}\n{body}\n```")
    return "\n\n".join(blocks)


def write_readme_section(readme: Path = README) -> Path:
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise ConfigError(f"{readme} has no {BEGIN} ... {END} section to write")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{BEGIN}\n{readme_section()}\n{END}{tail}", encoding="utf-8")
    return readme
