"""S3 stand-in: a folder per bucket, atomic writes, and the EventBridge "Object Created" event per object."""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlparse

from ohlcv_core.errors import ConfigError
from stack_tools.template import LOCAL_ACCOUNT, LOCAL_REGION

ObjectCreatedListener = Callable[[dict[str, Any]], None]


class LocalS3:
    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self._clock = clock
        self._listeners: list[ObjectCreatedListener] = []
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    def subscribe(self, listener: ObjectCreatedListener) -> None:
        self._listeners.append(listener)

    def bucket_path(self, bucket: str) -> Path:
        return self.root / bucket

    def path_of(self, url: str) -> Path:
        """`s3://bucket/key` -> the local file or folder that stands for it."""
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ConfigError(f"not an s3:// URL: {url!r}")
        return self.bucket_path(parsed.netloc) / parsed.path.lstrip("/")

    def put_object(self, bucket: str, key: str, body: bytes) -> dict[str, Any]:
        """Write atomically (temp file + rename: no reader ever sees half an object), then notify."""
        target = self.bucket_path(bucket) / key
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = self.root / ".tmp" / f"{uuid.uuid4().hex}.part"
        temp.parent.mkdir(parents=True, exist_ok=True)
        with temp.open("wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
        return self._announce(bucket, key, body)

    def announce_again(self, bucket: str, key: str) -> dict[str, Any]:
        """S3 delivers its events at least once, and late: announce an object that is already there."""
        return self._announce(bucket, key, (self.bucket_path(bucket) / key).read_bytes())

    def _announce(self, bucket: str, key: str, body: bytes) -> dict[str, Any]:
        event = self._object_created_event(bucket, key, body)
        for listener in self._listeners:
            listener(event)
        return event

    def _object_created_event(self, bucket: str, key: str, body: bytes) -> dict[str, Any]:
        with self._lock:
            sequence = next(self._sequence)
        return object_created_event(bucket, key, size=len(body),
                                    etag=hashlib.md5(body, usedforsecurity=False).hexdigest(), sequence=sequence,
                                    now_s=self._clock())


def object_created_event(bucket: str, key: str, *, size: int, etag: str, sequence: int,
                         now_s: float) -> dict[str, Any]:
    """EventBridge's "Object Created" event for an object S3 just wrote."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": LOCAL_ACCOUNT,
        "time": datetime.fromtimestamp(now_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": LOCAL_REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            # S3 URL-encodes keys in events ("dt=..." arrives as "dt%3D..."): consumers must decode.
            "object": {"key": quote_plus(key, safe="/"), "size": size, "etag": etag, "sequencer": f"{sequence:018X}"},
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": LOCAL_ACCOUNT,
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }
