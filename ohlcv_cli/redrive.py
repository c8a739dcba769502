"""`ohlcv redrive`: records the pipeline could not take, sent through the current transform again.

Sources, for the hours [from, to) of the objects' own time folders:
- `errors`: what Firehose kept under the error prefix (`errors/<type>/yyyy/MM/dd/HH/`), each record's
  original data in `rawData` (a record that packs several envelopes is unpacked: each is decided alone);
- `backup`: the source-record backup (`source/yyyy/MM/dd/HH/`, GZIP), the producer's envelopes as they
  arrived; records are found by their envelope headers (Firehose concatenates records as they are).

Each envelope is first decided by the current transform code with the stack's own window and an arrival of
now (as Firehose will stamp it): what now passes is sent to the delivery stream (at-least-once; the raw
zone's idempotency keys make the compacted tables unchanged by a second re-drive), what still fails is
reported with its reason. Nothing is deleted: the error objects stay for the record.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import orjson

from firehose_transform.transform import transform_records
from glue_jobs.store import ObjectStore
from ohlcv_core.envelope import decode_envelope, envelope_pieces, envelope_starts
from ohlcv_core.errors import ConfigError, RecordRejected
from ohlcv_core.window import TimeWindow
from producers.firehose_sink import DeliveryIncomplete, FirehoseSink

Source = Literal["errors", "backup"]
PREFIXES: dict[Source, str] = {"errors": "errors/", "backup": "source/"}
_HOUR_FOLDER = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")
BATCH = 500  # PutRecordBatch's record limit
TRANSFORM_BATCH = 2_000


@dataclass
class RedriveReport:
    objects: int = 0
    found: int = 0
    sent: int = 0
    dropped: int = 0  # heartbeats and other control frames: nothing to redrive
    unreadable: int = 0  # an error line or a backup piece that holds no record
    still_failing: Counter[str] = field(default_factory=Counter)  # reason code -> records
    examples: dict[str, str] = field(default_factory=dict)  # reason code -> one reason, as the transform says it

    def lines(self) -> list[str]:
        out = [f"{self.objects} objects, {self.found} records: {self.sent} now pass and were sent, "
               f"{sum(self.still_failing.values())} still fail, {self.dropped} carry no market data, "
               f"{self.unreadable} unreadable"]
        out += [f"  still failing, {code}: {count} (e.g. {self.examples[code]})"
                for code, count in self.still_failing.most_common()]
        return out


def parse_hour(text: str) -> datetime:
    """`2026-12-02T10` or `2026-12-02T10:00` or `2026-12-02`: an hour, UTC."""
    for pattern in ("%Y-%m-%dT%H", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ConfigError(f"{text!r} is not an hour (yyyy-MM-ddTHH, UTC)")


def _in_range(key: str, start: datetime, end: datetime) -> bool:
    match = _HOUR_FOLDER.search(key)
    if match is None:
        return False
    year, month, day, hour = (int(g) for g in match.groups())
    return start <= datetime(year, month, day, hour, tzinfo=UTC) < end


def _error_records(body: bytes, report: RedriveReport) -> Iterator[bytes]:
    """Each failed record's envelopes, one by one: a pack failed whole for one bad envelope, and its
    others pass on their own."""
    for line in body.splitlines():
        try:
            data = base64.b64decode(orjson.loads(line)["rawData"], validate=True)
        except (orjson.JSONDecodeError, KeyError, TypeError, binascii.Error):
            report.unreadable += 1
            continue
        try:
            yield from envelope_pieces(data)
        except RecordRejected:
            yield data  # not envelopes: the transform says why again


def _backup_records(body: bytes, report: RedriveReport) -> Iterator[bytes]:
    try:
        data = gzip.decompress(body)
    except (OSError, EOFError, zlib.error):
        data = body  # a backup written uncompressed
    starts = envelope_starts(data)
    if not starts or starts[0] != 0:
        report.unreadable += 1
    for begin, end in zip(starts, [*starts[1:], len(data)], strict=True):
        piece = data[begin:end]
        try:
            decode_envelope(piece)
        except RecordRejected:
            report.unreadable += 1
            continue
        yield piece


def _records(store: ObjectStore, root: str, source: Source, hours: tuple[datetime, datetime],
             report: RedriveReport) -> Iterator[bytes]:
    start, end = hours
    read = _error_records if source == "errors" else _backup_records
    for stored in store.list(root.rstrip("/") + "/" + PREFIXES[source]):
        if not _in_range(stored.url, start, end):
            continue
        found = store.read(stored.url)
        if found is None:
            continue
        report.objects += 1
        yield from read(found[0], report)


def _decide(envelopes: list[bytes], window: TimeWindow, now_ms: int, report: RedriveReport) -> list[bytes]:
    """The envelopes the current transform now takes; the others are counted by their reason."""
    records = [{"recordId": str(i), "approximateArrivalTimestamp": now_ms,
                "data": base64.b64encode(e).decode("ascii")} for i, e in enumerate(envelopes)]
    # No response budget: Lambda's 6 MB limit would fail the overflow of a large chunk here, which is a
    # property of the invocation, not of the records being decided.
    response, tally = transform_records(records, window, limit=sys.maxsize)
    passing = [envelopes[int(r["recordId"])] for r in response["records"] if r["result"] == "Ok"]
    report.dropped += sum(1 for r in response["records"] if r["result"] == "Dropped")
    for rejection in tally.rejections:
        report.still_failing[rejection.code] += 1
        report.examples.setdefault(rejection.code, rejection.message[:160])
    return passing


def redrive(store: ObjectStore, root: str, sink: FirehoseSink, *, source: Source, start: datetime, end: datetime,
            window: TimeWindow, dry_run: bool = False, clock: Callable[[], float] = time.time) -> RedriveReport:
    """`root`: the raw bucket (`s3://bucket/` or the local folder that stands for it)."""
    if end <= start:
        raise ConfigError("--to must be after --from")
    report = RedriveReport()
    pending: list[bytes] = []

    def flush() -> None:
        passing = _decide(pending, window, int(clock() * 1000), report)
        pending.clear()
        for begin in range(0, len(passing), BATCH):
            chunk = passing[begin:begin + BATCH]
            if not dry_run:
                try:
                    sink.send(chunk)
                except DeliveryIncomplete as exc:
                    report.sent += len(chunk) - len(exc.pending)
                    raise ConfigError(f"the delivery stream did not take {len(exc.pending)} records: {exc}; "
                                      "redrive again later (what was sent is deduplicated)") from exc
            report.sent += len(chunk)

    for envelope in _records(store, root, source, (start, end), report):
        report.found += 1
        pending.append(envelope)
        if len(pending) >= TRANSFORM_BATCH:
            flush()
    if pending:
        flush()
    return report
