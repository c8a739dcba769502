"""The chaos run's report: the faults injected and what absorbed them, then the reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime

from chaos.plan import ABSORBED_BY
from chaos.reconcile import LOST_AT_DROP, LOST_AT_KILL, LOST_AT_STOP, MUST_BE_ZERO, UNEXPLAINED
from chaos.run import ChaosReport


def _minute(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%H:%M")


def _minutes(minutes: set[tuple[str, int]]) -> str:
    """`AAPL 14:02-14:03, MSFT 14:03` (each symbol's first and last minute)."""
    if not minutes:
        return "no minute"
    spans = []
    for symbol in sorted({symbol for symbol, _ in minutes}):
        mine = sorted(minute for s, minute in minutes if s == symbol)
        spans.append(f"{symbol} {_minute(mine[0])}" + (f"-{_minute(mine[-1])}" if len(mine) > 1 else ""))
    return ", ".join(spans)


def format_report(report: ChaosReport) -> str:
    s, r = report.settings, report.reconciliation
    lines = [f"chaos run, seed {s.seed}: {report.seconds:.0f} s, {r.frames_sent:,} frames sent by the stand-in "
             f"({s.per_second:g}/s a symbol)", "",
             "faults injected (seconds into the run), and what the design says absorbs them:"]
    for fault in report.injected:
        lines.append(f"  {fault.at_s:6.1f}  {fault.kind:<17} {fault.detail}")
        lines.append(f"          {'':<17} absorbed by: {ABSORBED_BY[fault.kind]}")
    lines += [f"  all run  firehose_throttling {s.throttle_rate:.0%} of calls throttled, {s.partial_failure_rate:.0%} "
              "of records failed", f"          {'':<17} absorbed by: {ABSORBED_BY['firehose_throttling']}",
              f"  all run  transform_errors  {s.lambda_error_rate:.0%} of invocations fail",
              f"          {'':<17} absorbed by: {ABSORBED_BY['transform_errors']}",
              f"  all run  spool_disk        {'a tmpfs' if report.spool_on_tmpfs else 'a spool bound'} with "
              f"{s.spool_usable_kib} KiB usable", f"          {'':<17} absorbed by: {ABSORBED_BY['spool_disk']}"]
    if report.not_reached:
        lines.append(f"  not reached before the feed ended: {', '.join(report.not_reached)}")
    lines += ["", "what the stack counted: " + ", ".join(f"{k} {v}" for k, v in report.stack_counts.items()), "",
              "producer runs:"]
    for run in report.producer_runs:
        stop = f", stopped in {run.stop_seconds:.1f} s" if run.stop_seconds is not None else ""
        counts = run.counts()
        said = (f"; received {counts.get('frames_received', 0):,}, sent {counts.get('records_sent', 0):,}, spooled "
                f"{counts.get('records_spooled', 0):,} ({counts.get('spool_full_waits', 0)} waits on a full spool), "
                f"drained {counts.get('batches_drained', 0)} batches, not kept {counts.get('records_not_kept', 0)}"
                if counts else "")
        lines.append(f"  #{run.number}: ended by {run.ended_by}, exit {run.exit_code}{stop}{said}")
    lines += ["", "reconciliation (price events, by idempotency key):",
              f"  sent by the stand-in     {r.events_sent:>8,}",
              f"  in the raw zone          {r.in_raw:>8,}   ({r.raw_copies:,} extra copies there, collapsed by "
              "compaction)",
              f"  under the error prefix   {r.in_error_prefix:>8,}   (the transform failed them; redrivable)"]
    for cause in (LOST_AT_DROP, LOST_AT_KILL, LOST_AT_STOP, UNEXPLAINED):
        lines.append(f"  lost: {cause}: {r.lost[cause]:,}" + ("   (must be 0)" if cause in MUST_BE_ZERO else ""))
    lines += ["  lost, by the stop that lost them (each minute must have REST's bar):" if r.losses
              else "  lost, by the stop that lost them: nothing"]
    for label, loss in sorted(r.losses.items(), key=lambda item: item[1].at_s):
        repaired = len(loss.minutes) - len(loss.not_from_rest)
        lines.append(f"    {label}: {loss.events:,} events of {_minutes(loss.minutes)}; "
                     f"{repaired} of {len(loss.minutes)} minutes have REST's bar")
    lines += [f"  curated bars_1m: {r.rest_bars} REST bars, {r.tick_bars} tick bars; events counted twice "
              f"{r.curated_duplicates}, events in raw no bar counts {r.curated_missing}",
              f"  minutes without a bar {len(r.minutes_without_bar)}, bars twice {len(r.bars_twice)}, wrong bars "
              f"{len(r.wrong_bars)}",
              "  rejected by the transform, by reason: "
              + (", ".join(f"{k} {v}" for k, v in sorted(r.rejected.items())) or "none"),
              f"  planted malformed frames not found under the error prefix: {len(r.planted_missing)}"]
    lines += [f"    {symbol} {_minute(minute)}: no bar" for symbol, minute in r.minutes_without_bar[:10]]
    lines += [f"    {symbol} {_minute(minute)}: lost events, and its bar is not REST's"
              for symbol, minute in r.unrepaired[:10]]
    lines += [f"  note: {note}" for note in report.notes]
    lines += [f"    {wrong}" for wrong in r.wrong_bars[:10]]
    lines += ["", "RESULT: " + ("PASS: every sent event is in the curated tables once or accounted for, every "
                                "minute has its bar, every stop ended in time" if report.ok else "FAIL")]
    return "\n".join(lines)
