"""Quality: the curated bars of the given dates, judged by the ruleset (glue_jobs/ruleset.dqdl).

Arguments (Glue style):
  --curated_location s3://…/   (the bar tables, and withheld_bars: what compaction kept out)
  --quality_location s3://…/quality/   (results/ and quarantine/ live under it)
  --dates 2023-08-24[,…]   [--raw_location s3://…/raw/kind=price/]  (the ticks, for REST minutes' checks)
  --history_days N   --late_after_s N   --target_file_mb N   --row_group_mb N   --keep_superseded_s N
  [--symbols AAPL,MSFT]   [--now <epoch seconds>]   [--ruleset <path>]   [--JOB_RUN_ID id]

Each run: reads the dates' bars (and enough before them for the rules that look back), puts each rule's
measures beside them (glue_jobs.quality_checks), evaluates the ruleset (glue_jobs.evaluate), then
  - replaces each date's partition of the quarantine table with the rows a rule failed (withheld ones
    from compaction's withheld_bars, flagged ones still in the curated tables), as compaction publishes;
  - appends one row per rule to the results table (partition run_date), so scores have a history;
  - logs each rule's outcome as EMF metrics (namespace ohlcv, dimensions Job and Rule).
A rerun of the same dates replaces their quarantine whole and adds another set of results. With
--symbols, only those symbols' bars are judged, and only their rows of the quarantine are replaced.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from glue_jobs import quality_checks
from glue_jobs.arguments import dates_option, number_option, resolve_options
from glue_jobs.compact_bars import (
    BAR_NAMES,
    MIB,
    PRICE_COLUMNS_USED,
    _read_json,
    dt_of_file,
    existing_paths,
    minute_bars,
    neighbour_dates,
    ordered_events,
    price_events,
    raw_paths,
    read_published,
    write_tables,
)
from glue_jobs.evaluate import Evaluation, evaluate, ruleset_text
from glue_jobs.glue_dq import GlueEvaluator, JudgedBy, glue_evaluator, reconcile
from glue_jobs.job_metrics import MetricPublisher, emit, namespace_from, publisher_from
from glue_jobs.publish import Publisher
from glue_jobs.session import apply_job_conf
from glue_jobs.sessions import open_at
from glue_jobs.spark_schema import spark_schema
from glue_jobs.store import ObjectStore, store_for
from ohlcv_core import config
from ohlcv_core.calendars import market_of
from ohlcv_core.curated import partitions_of
from ohlcv_core.dqdl import Ruleset, parse_ruleset
from ohlcv_core.emf import emf_line
from ohlcv_core.errors import ConfigError
from ohlcv_core.json_logs import log_as_json
from ohlcv_core.schema import (
    QUALITY_RESULT_COLUMNS,
    QUARANTINE_COLUMNS,
    RAW_PRICE_COLUMNS,
)

LOG = logging.getLogger(__name__)
REQUIRED = ("curated_location", "quality_location", "dates")
WITHHELD_TABLE = "withheld_bars"
QUARANTINE_TABLE = "quarantine"
RESULTS_FOLDER = "results"
BYTES_PER_ROW = 160  # a quarantined row in snappy Parquet, about
JOB = "quality"


@dataclass(frozen=True)
class QualityResult:
    run_id: str
    dates: tuple[str, ...]
    score: float
    rules: int
    failed: list[str]
    blocking_failed: list[str]
    quarantined: int
    withheld: int
    duration_s: float
    outcomes: list[dict[str, object]] = field(default_factory=list)
    judged_by: JudgedBy = "local"
    disagreements: list[str] = field(default_factory=list)  # rules Glue Data Quality judged otherwise (glue_dq)


# -- reading ---------------------------------------------------------------------------------------------
def context_dates(dates: Sequence[str], table: str, history_days: int) -> list[str]:
    """The dates read for a table: the dates, and the days before them the rules look back over (a
    daily series' returns and sessions go back `history_days`; the shorter bars, one day)."""
    before = history_days if table == "bars_1d" else 1
    return sorted({*dates, *neighbour_dates(dates, before=before)})


def read_table(spark: SparkSession, publisher: Publisher, table: str, dts: Sequence[str]) -> DataFrame:
    """A published table's bars of the days, with table_name and dt."""
    return read_published(spark, publisher, table, dts).withColumn("table_name", F.lit(table))


def read_withheld(spark: SparkSession, publisher: Publisher, dts: Sequence[str]) -> DataFrame | None:
    """The bars compaction withheld on the dates; None when it withheld none."""
    files = publisher.files(WITHHELD_TABLE, partitions_of(WITHHELD_TABLE, dts))
    return spark.read.parquet(*files).withColumn("dt", dt_of_file()) if files else None


def read_ticks(spark: SparkSession, raw_location: str, dates: Sequence[str], late_after_s: float) -> DataFrame:
    """The minutes the streamed ticks make (compaction's own functions), with whether each is its
    series' first (its volume is then short: the first event has no volume before it)."""
    paths = existing_paths(spark, raw_paths(raw_location, [*dates, *neighbour_dates(dates)]))
    columns = [c for c in RAW_PRICE_COLUMNS if c.name in PRICE_COLUMNS_USED]
    raw = _read_json(spark, columns, paths)
    minutes = minute_bars(ordered_events(price_events(raw, dates, int(late_after_s * 1000))).where("_target"))
    first = F.col("minute_ms") == F.min("minute_ms").over(Window.partitionBy("symbol"))
    return minutes.select("symbol", "minute_ms", "close", "volume", first.alias("first_of_series"))


@dataclass(frozen=True)
class Coverage:
    markets: dict[str, str]  # symbol -> its calendar, by the venue its bars name (ohlcv_core.calendars)
    intraday: dict[str, tuple[date, date]]  # calendar -> the first and last dt with minute or hour bars


def coverage(bars: DataFrame) -> Coverage:
    """Each symbol's calendar, and the dates each calendar's minute and hour bars span: the session grid
    holds minutes and hours for those only (a daily backfill of ten years has none to judge)."""
    intraday = F.when(F.col("table_name").isin("bars_1m", "bars_1h"), F.col("dt"))
    rows = bars.groupBy("symbol", "exchange").agg(F.min(intraday), F.max(intraday)).collect()
    found: dict[str, str] = {}
    by_symbol: dict[str, tuple[date, date]] = {}
    for symbol, exchange, first, last in sorted(rows, key=lambda row: (row[0], row[1] or "")):
        market = market_of(symbol, exchange)
        if market is not None:
            found.setdefault(symbol, market)
        if first is not None:
            by_symbol[symbol] = _widest(by_symbol.get(symbol), (date.fromisoformat(first), date.fromisoformat(last)))
    spans: dict[str, tuple[date, date]] = {}
    for symbol, market in found.items():  # (a symbol's bars are judged by its calendar, whatever venue each names)
        if symbol in by_symbol:
            spans[market] = _widest(spans.get(market), by_symbol[symbol])
    unknown = sorted({row[0] for row in rows} - set(found))
    if unknown:
        LOG.warning("no calendar is known for %d symbol(s), %s: the rules that need one (sessions, hours, "
                    "staleness) skip their bars, the others judge them", len(unknown), ", ".join(unknown[:10]),
                    extra={"symbols": unknown})
    return Coverage(found, spans)


def _widest(known: tuple[date, date] | None, span: tuple[date, date]) -> tuple[date, date]:
    return span if known is None else (min(known[0], span[0]), max(known[1], span[1]))


# -- the run ---------------------------------------------------------------------------------------------
def _only(frame: DataFrame, symbols: Sequence[str] | None) -> DataFrame:
    return frame.where(F.col("symbol").isin(*symbols)) if symbols else frame


@dataclass(frozen=True)
class Primary:
    """The dataset the ruleset judges, and what was cached to build it (released when the run is done:
    the local Glue's session outlives the run)."""
    frame: DataFrame
    cached: tuple[DataFrame, ...]

    def release(self) -> None:
        for frame in self.cached:
            frame.unpersist()


def primary_frame(spark: SparkSession, publisher: Publisher, *, dates: Sequence[str], history_days: int,
                  ticks: DataFrame | None, now_s: float, symbols: Sequence[str] | None = None) -> Primary:
    """The dates' curated bars with their measures, and the bars compaction withheld (measures null,
    `withheld` true)."""
    bars = None
    for table in quality_checks.TABLES:
        frame = read_table(spark, publisher, table, context_dates(dates, table, history_days))
        bars = frame if bars is None else bars.unionByName(frame)
    assert bars is not None
    bars = _only(bars, symbols).cache()
    covered = coverage(bars)
    found = covered.markets
    intraday = [date.fromisoformat(d) for d in context_dates(dates, "bars_1m", history_days)]
    daily = [date.fromisoformat(d) for d in context_dates(dates, "bars_1d", history_days)]
    # (built from a Python list: cached, or each of its three uses would ship it from Python again)
    grid = quality_checks.session_grid(spark, found.values(), intraday, daily,
                                       intraday_spans=covered.intraday).cache()
    now_ms = int(now_s * 1000)
    open_now = {symbol: open_at(market, now_ms) for symbol, market in found.items()}
    today = datetime.fromtimestamp(now_s, tz=UTC).date().isoformat()
    checked = quality_checks.checked_bars(bars, grid=grid, markets=found, ticks=ticks, open_now=open_now,
                                          today=today, dates=dates)
    checked = checked.withColumn("withheld", F.lit(False))
    withheld = read_withheld(spark, publisher, dates)
    if withheld is None:  # (no union: the frame keeps its series' partitioning for the evaluator's windows)
        return Primary(checked, (bars, grid))
    withheld = _only(withheld, symbols)
    measures = [c for c in checked.columns if c not in ("table_name", *BAR_NAMES, "dt", "withheld")]
    withheld_rows = withheld.select("table_name", *BAR_NAMES, "dt", *[
        F.lit(None).cast(checked.schema[c].dataType).alias(c) for c in measures])
    return Primary(checked.unionByName(withheld_rows.withColumn("withheld", F.lit(True))), (bars, grid))


def quarantine_rows(evaluation: Evaluation, ruleset: Ruleset, run_id: str, checked_at: datetime) -> DataFrame:
    reasons = F.create_map(*[F.lit(x) for r in ruleset.rules for x in (r.name, f"{r.description} ({r.text})")])
    names = [c.name for c in QUARANTINE_COLUMNS]
    return (evaluation.failures
            .withColumn("action", F.when(F.col("withheld"), F.lit("withheld")).otherwise(F.lit("flagged")))
            .withColumn("reason", reasons[F.col("rule")])
            .withColumn("run_id", F.lit(run_id))
            .withColumn("checked_at", F.lit(checked_at).cast("timestamp"))
            .select(*names, "dt"))


def result_rows(spark: SparkSession, evaluation: Evaluation, dates: Sequence[str], run_id: str,
                checked_at: datetime, *, judged_by: JudgedBy) -> DataFrame:
    rows = [(run_id, checked_at, dates[0], dates[-1], len(dates), o.rule.name, o.rule.rule_type, o.rule.text,
             o.rule.policy, o.rule.blocking, o.outcome, judged_by, o.measured, o.rows_checked, o.rows_failed,
             evaluation.score, o.message) for o in evaluation.outcomes]
    return spark.createDataFrame(rows, spark_schema(QUALITY_RESULT_COLUMNS))


def metric_lines(evaluation: Evaluation, timestamp_ms: int, *, disagreements: int, run_seconds: float,
                 namespace: str = config.DEFAULT_METRICS_NAMESPACE) -> list[str]:
    lines = [emf_line(namespace, timestamp_ms, {"Job": JOB},
                      {"Score": (evaluation.score, "None"), "RunSeconds": (round(run_seconds, 3), "Seconds"),
                       "EvaluatorDisagreements": (float(disagreements), "Count"),
                       "RulesFailed": (sum(o.outcome == "Failed" for o in evaluation.outcomes), "Count"),
                       "BlockingRulesFailed": (sum(o.outcome == "Failed" and o.rule.blocking
                                                   for o in evaluation.outcomes), "Count")})]
    for outcome in evaluation.outcomes:
        lines.append(emf_line(namespace, timestamp_ms, {"Job": JOB, "Rule": outcome.rule.name},
                              {"RuleFailed": (float(outcome.outcome == "Failed"), "Count"),
                               "RowsFailed": (float(outcome.rows_failed), "Count")}))
    return lines


def check(spark: SparkSession, *, curated_location: str, quality_location: str, dates: Sequence[str], run_id: str,
          ruleset: Ruleset, raw_location: str | None = None, history_days: int = 120, late_after_s: float = 300.0,
          target_file_mb: float = 128.0, row_group_mb: float = 16.0, keep_superseded_s: float = 3600.0,
          store: ObjectStore | None = None, clock: Callable[[], float] = time.time,
          metrics_out: Callable[[str], None] | None = None, symbols: Sequence[str] | None = None,
          glue_dq: GlueEvaluator | None = None, metrics_namespace: str = config.DEFAULT_METRICS_NAMESPACE,
          metrics_publisher: MetricPublisher | None = None) -> QualityResult:
    """`glue_dq` (on Glue: glue_dq.glue_evaluator) judges the same frame with the same ruleset; its
    outcomes are then the run's (glue_jobs/glue_dq.py)."""
    started = time.monotonic()
    apply_job_conf(spark)
    now_s = clock()
    checked_at = datetime.fromtimestamp(now_s, tz=UTC).replace(tzinfo=None)
    curated, quality = curated_location.rstrip("/"), quality_location.rstrip("/")
    bars_store = store or store_for(curated)
    publisher = Publisher(bars_store, curated, keep_superseded_s=keep_superseded_s, clock=clock)
    ticks = None
    if raw_location and publisher.files("bars_1m", partitions_of("bars_1m", dates)):
        ticks = read_ticks(spark, raw_location, dates, late_after_s)
    if ticks is not None:
        ticks = _only(ticks, symbols)
    primary = primary_frame(spark, publisher, dates=dates, history_days=history_days, ticks=ticks, now_s=now_s,
                            symbols=symbols)
    try:
        evaluation = evaluate(spark, primary.frame, ruleset, now_s=now_s)
        reconciled = reconcile(evaluation.outcomes, glue_dq(primary.frame) if glue_dq else None)
    finally:
        primary.release()
    for line in reconciled.disagreements:
        LOG.warning("evaluators disagree: %s", line)
    evaluation = replace(evaluation, outcomes=reconciled.outcomes)
    quarantine = quarantine_rows(evaluation, ruleset, run_id, checked_at).cache()
    counted = {row[0]: row[1] for row in quarantine.groupBy("action").count().collect()}
    out = Publisher(store or store_for(quality), quality, keep_superseded_s=keep_superseded_s, clock=clock)
    if symbols:  # the other symbols' rows stay as they were
        kept = out.files(QUARANTINE_TABLE, partitions_of(QUARANTINE_TABLE, dates))
        if kept:
            others = spark.read.parquet(*kept).where(~F.col("symbol").isin(*symbols)).withColumn(
                "dt", dt_of_file())
            quarantine = quarantine.unionByName(others.select(*quarantine.columns)).cache()
    folder = out.begin(run_id, {QUARANTINE_TABLE: partitions_of(QUARANTINE_TABLE, dates)})
    write_tables({QUARANTINE_TABLE: quarantine}, folder,
                 max_records_per_file=max(1000, int(target_file_mb * MIB / BYTES_PER_ROW)),
                 row_group_bytes=int(row_group_mb * MIB))
    quarantine.unpersist()
    out.publish(QUARANTINE_TABLE, partitions_of(QUARANTINE_TABLE, dates), out.written(run_id))
    out.finish(run_id)
    results = result_rows(spark, evaluation, dates, run_id, checked_at, judged_by=reconciled.judged_by)
    results.coalesce(1).write.mode("append").parquet(
        f"{quality}/{RESULTS_FOLDER}/run_date={checked_at.date().isoformat()}")
    emit(metric_lines(evaluation, int(now_s * 1000), disagreements=len(reconciled.disagreements),
                      run_seconds=time.monotonic() - started, namespace=metrics_namespace),
         metrics_out or LOG.info, metrics_publisher)
    failed = [o.rule.name for o in evaluation.outcomes if o.outcome == "Failed"]
    return QualityResult(
        run_id, tuple(dates), round(evaluation.score, 4), len(evaluation.outcomes), failed,
        [o.rule.name for o in evaluation.outcomes if o.outcome == "Failed" and o.rule.blocking],
        int(sum(counted.values())), int(counted.get("withheld", 0)), round(time.monotonic() - started, 3),
        [{"rule": o.rule.name, "policy": o.rule.policy, "blocking": o.rule.blocking, "outcome": o.outcome,
          "measured": o.measured, "rows_checked": o.rows_checked, "rows_failed": o.rows_failed,
          "message": o.message} for o in evaluation.outcomes], reconciled.judged_by, reconciled.disagreements)


def now_option(options: dict[str, str]) -> Callable[[], float]:
    """--now pins the clock (epoch seconds, or an ISO time in UTC): freshness is judged at that instant."""
    text = options.get("now")
    if not text:
        return time.time
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ConfigError(f"--now must be epoch seconds or an ISO time, got {text!r}") from None
        value = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return lambda: value


def main(argv: Sequence[str] | None = None, spark: SparkSession | None = None,
         cloudwatch: Any | None = None) -> QualityResult:
    """`cloudwatch`: the client `--publish_metrics true` puts the run's metrics with (default: Glue's own)."""
    options = resolve_options(sys.argv[1:] if argv is None else argv, REQUIRED)
    dates = dates_option(options, "dates")
    source = ruleset_text(options.get("ruleset"))
    ruleset = parse_ruleset(source)
    session = spark or SparkSession.builder.getOrCreate()
    result = check(session, curated_location=options["curated_location"],
                   quality_location=options["quality_location"], dates=dates,
                   run_id=options.get("JOB_RUN_ID") or f"run-{uuid.uuid4().hex[:12]}", ruleset=ruleset,
                   raw_location=options.get("raw_location"),
                   history_days=int(number_option(options, "history_days", minimum=1)),
                   late_after_s=number_option(options, "late_after_s"),
                   target_file_mb=number_option(options, "target_file_mb", minimum=0.01),
                   row_group_mb=number_option(options, "row_group_mb", minimum=0.01),
                   keep_superseded_s=number_option(options, "keep_superseded_s"), clock=now_option(options),
                   symbols=[x.strip() for x in options.get("symbols", "").split(",") if x.strip()] or None,
                   glue_dq=glue_evaluator(options.get("JOB_NAME") or JOB, source),
                   metrics_namespace=namespace_from(options),
                   metrics_publisher=publisher_from(options, cloudwatch))
    LOG.info("quality finished %s", json.dumps(asdict(result), default=str))
    return result


if __name__ == "__main__":
    log_as_json(JOB)  # on Glue: JSON lines with the Lambdas' keys, the job's metrics name as the service
    main()
