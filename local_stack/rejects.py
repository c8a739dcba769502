"""What was rejected, by whom and why: Firehose's error records joined to the transform's log lines."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from ohlcv_core.envelope import decode_envelopes
from ohlcv_core.errors import RecordRejected
from ohlcv_core.twelvedata import salvage_symbol


@dataclass(frozen=True)
class Rejected:
    object_path: Path
    symbol: str | None
    error_code: str
    reason_code: str | None
    reason: str | None
    payload: str


def _transform_reasons(log_dir: Path) -> dict[str, tuple[str, str]]:
    reasons: dict[str, tuple[str, str]] = {}
    for log in sorted(log_dir.glob("*.log")) if log_dir.exists() else []:
        for line in log.read_text(encoding="utf-8").splitlines():
            if '"record rejected"' not in line:
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            reasons[entry.get("raw_sha256", "")] = (entry.get("reason_code", ""), entry.get("reason", ""))
    return reasons


def _payload_of(raw: bytes) -> str:
    """The record's payloads, one per line (a pack holds several)."""
    try:
        return "\n".join(e["payload"].decode("utf-8", "replace") for e in decode_envelopes(raw))
    except RecordRejected:
        return raw.decode("utf-8", "replace")


def rejected_records(error_zone: Path, log_dir: Path) -> Iterator[Rejected]:
    reasons = _transform_reasons(log_dir)
    for path in sorted(p for p in error_zone.rglob("*") if p.is_file()) if error_zone.exists() else []:
        for line in path.read_bytes().splitlines():
            record = orjson.loads(line)
            raw_b64 = record["rawData"]
            payload = _payload_of(base64.b64decode(raw_b64))
            reason_code, reason = reasons.get(hashlib.sha256(raw_b64.encode("ascii")).hexdigest(), (None, None))
            yield Rejected(path, salvage_symbol(payload), record.get("errorCode", ""), reason_code, reason, payload)
