"""What flows through a local delivery stream."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BufferedRecord:
    record_id: str
    data: bytes
    arrival_ms: int


@dataclass(frozen=True, slots=True)
class Transformed:
    source: BufferedRecord
    data: bytes
    partition_keys: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class Failure:
    record: BufferedRecord
    error_code: str
    error_message: str
    attempts: int
