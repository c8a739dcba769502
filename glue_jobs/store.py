"""The object operations publication needs, on S3 (boto3, as Glue's driver has it) and on a local disk.

Both keep the one property readers rely on: `write` replaces an object whole (an S3 PUT; locally a
temporary file renamed over the target), so nobody reads half a manifest.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import boto3
from botocore.config import Config

from ohlcv_core.errors import ConfigError, PipelineError

S3_DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys


@dataclass(frozen=True)
class StoredObject:
    url: str
    modified_s: float


class ObjectStore(Protocol):
    def read(self, url: str) -> tuple[bytes, float] | None:
        """The object's bytes and when it was written, or None if there is none."""

    def write(self, url: str, body: bytes) -> None:
        """Replace the object whole."""

    def list(self, prefix: str) -> list[StoredObject]:
        """Every object under the folder `prefix`."""

    def delete(self, urls: Iterable[str]) -> None:
        """Delete the objects (those already gone are no error)."""


class LocalStore:
    """Plain absolute paths, as the local Glue hands them to the job. What it writes is stamped with the
    clock's time (as S3 stamps LastModified with its own)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def read(self, url: str) -> tuple[bytes, float] | None:
        path = Path(url)
        try:
            return path.read_bytes(), path.stat().st_mtime
        except FileNotFoundError:
            return None

    def write(self, url: str, body: bytes) -> None:
        target = Path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Hidden, so a reader listing the folder skips it, as Hadoop and Athena skip dot files.
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        with temp.open("wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        now = self._clock()
        os.utime(temp, (now, now))
        os.replace(temp, target)

    def list(self, prefix: str) -> list[StoredObject]:
        root = Path(prefix)
        if not root.is_dir():
            return []
        # Hidden files are not objects: a checksum Hadoop's local file system keeps beside a file (deleted
        # with it), or a write's temporary file.
        return [StoredObject(p.as_posix(), p.stat().st_mtime) for p in sorted(root.rglob("*"))
                if p.is_file() and not p.name.startswith(".")]

    def delete(self, urls: Iterable[str]) -> None:
        for url in urls:
            path = Path(url)
            for doomed in (path, path.with_name(f".{path.name}.crc")):
                doomed.unlink(missing_ok=True)
            _remove_empty_parents(path.parent)


def _remove_empty_parents(folder: Path, levels: int = 10) -> None:
    for _ in range(levels):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _bucket_key(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    if parsed.scheme not in ("s3", "s3a") or not parsed.netloc:
        raise ConfigError(f"not an s3:// URL: {url!r}")
    return parsed.netloc, parsed.path.lstrip("/")


class S3Store:
    """s3:// URLs through an S3 client (created by the caller, with its timeouts and retries)."""

    def __init__(self, client: Any) -> None:
        self._s3 = client

    def read(self, url: str) -> tuple[bytes, float] | None:
        bucket, key = _bucket_key(url)
        try:
            answer = self._s3.get_object(Bucket=bucket, Key=key)
        except self._s3.exceptions.NoSuchKey:
            return None
        return answer["Body"].read(), answer["LastModified"].timestamp()

    def write(self, url: str, body: bytes) -> None:
        bucket, key = _bucket_key(url)
        self._s3.put_object(Bucket=bucket, Key=key, Body=body)

    def _pages(self, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
        yield from self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)

    def list(self, prefix: str) -> list[StoredObject]:
        bucket, key = _bucket_key(prefix)
        folder = key.rstrip("/") + "/"
        scheme = urlparse(prefix).scheme
        return [StoredObject(f"{scheme}://{bucket}/{item['Key']}", item["LastModified"].timestamp())
                for page in self._pages(bucket, folder) for item in page.get("Contents", [])]

    def delete(self, urls: Iterable[str]) -> None:
        by_bucket: dict[str, list[str]] = {}
        for url in urls:
            bucket, key = _bucket_key(url)
            by_bucket.setdefault(bucket, []).append(key)
        for bucket, keys in by_bucket.items():
            for start in range(0, len(keys), S3_DELETE_BATCH):
                batch = keys[start:start + S3_DELETE_BATCH]
                answer = self._s3.delete_objects(Bucket=bucket, Delete={
                    "Objects": [{"Key": k} for k in batch], "Quiet": True})
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise PipelineError(f"S3 refused to delete {len(answer['Errors'])} object(s), e.g. "
                                  f"s3://{bucket}/{first.get('Key')}: {first.get('Code')} {first.get('Message')}")


def store_for(root: str, s3_client: Any = None) -> ObjectStore:
    """The store for the curated root: S3 for s3:// URLs (a client made here unless one is given)."""
    scheme = urlparse(root).scheme
    if scheme in ("s3", "s3a"):
        if s3_client is None:
            s3_client = boto3.client("s3", config=Config(connect_timeout=10, read_timeout=60,
                                                         retries={"max_attempts": 10, "mode": "adaptive"}))
        return S3Store(s3_client)
    if scheme == "" and root.startswith("/"):
        return LocalStore()
    raise ConfigError(f"--curated_location must be an s3:// URL or an absolute path, got {root!r}")
