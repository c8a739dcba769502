"""Where a backfill keeps its checkpoints: a folder locally, an S3 prefix on AWS (`s3://bucket/prefix/`).

One object per symbol and interval (`ohlcv_core.backfill.Checkpoint`), replaced whole: a local file is
written beside its final name, flushed to disk, then renamed over it; an S3 PUT replaces an object
atomically. A reader sees the previous checkpoint or the next, never half of one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ohlcv_core.backfill import Checkpoint, checkpoint_name
from ohlcv_core.errors import ConfigError, PipelineError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class CheckpointStore(Protocol):
    location: str

    def load(self, symbol: str, interval: str) -> Checkpoint | None: ...

    def save(self, checkpoint: Checkpoint) -> None: ...


def _parsed(body: bytes, where: str) -> Checkpoint:
    try:
        return Checkpoint.from_json(body)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise PipelineError(f"checkpoint {where} is unreadable ({exc}); delete it or use --force") from None


class FileCheckpoints:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.location = str(folder)

    def _path(self, symbol: str, interval: str) -> Path:
        return self.folder / checkpoint_name(symbol, interval)

    def load(self, symbol: str, interval: str) -> Checkpoint | None:
        path = self._path(symbol, interval)
        try:
            body = path.read_bytes()
        except FileNotFoundError:
            return None
        return _parsed(body, str(path))

    def save(self, checkpoint: Checkpoint) -> None:
        path = self._path(checkpoint.symbol, checkpoint.interval)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        with open(partial, "wb") as out:
            out.write(checkpoint.to_json())
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class S3Checkpoints:
    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.location = f"s3://{bucket}/{self._prefix}"

    def load(self, symbol: str, interval: str) -> Checkpoint | None:
        key = self._prefix + checkpoint_name(symbol, interval)
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except self._client.exceptions.NoSuchKey:
            return None
        return _parsed(body, f"s3://{self._bucket}/{key}")

    def save(self, checkpoint: Checkpoint) -> None:
        key = self._prefix + checkpoint_name(checkpoint.symbol, checkpoint.interval)
        self._client.put_object(Bucket=self._bucket, Key=key, Body=checkpoint.to_json(),
                                ContentType="application/json")


def split_s3_url(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ConfigError(f"{url!r} names no bucket (s3://bucket/prefix/)")
    return bucket, prefix
