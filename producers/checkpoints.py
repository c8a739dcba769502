"""Where a backfill keeps its checkpoints: a folder locally, an S3 prefix on AWS (`s3://bucket/prefix/`).

One object per symbol and interval (`ohlcv_core.backfill.Checkpoint`), replaced whole: a local file is
written beside its final name, flushed to disk, then renamed over it; an S3 PUT replaces an object
atomically. A reader sees the previous checkpoint or the next, never half of one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

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
        """None when there is none yet. It is looked for by listing its key first: S3 answers a read of a
        missing key with NoSuchKey only to a caller who may list the bucket, and AccessDenied otherwise,
        and the listing can be granted for the checkpoints' prefix alone (the stack's BackfillTaskRole)."""
        key = self._prefix + checkpoint_name(symbol, interval)
        where = f"s3://{self._bucket}/{key}"
        try:
            listed = self._client.list_objects_v2(Bucket=self._bucket, Prefix=key, MaxKeys=1)
            if not any(item["Key"] == key for item in listed.get("Contents", [])):
                return None
            body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except self._client.exceptions.NoSuchKey:  # deleted since it was listed
            return None
        except ClientError as exc:
            grants = "s3:ListBucket (its prefix) and s3:GetObject"
            raise _setup_error(exc, f"read the checkpoint {where}", grants) from None
        return _parsed(body, where)

    def save(self, checkpoint: Checkpoint) -> None:
        key = self._prefix + checkpoint_name(checkpoint.symbol, checkpoint.interval)
        try:
            self._client.put_object(Bucket=self._bucket, Key=key, Body=checkpoint.to_json(),
                                    ContentType="application/json")
        except ClientError as exc:
            raise _setup_error(exc, f"write the checkpoint s3://{self._bucket}/{key}", "s3:PutObject") from None


def _setup_error(exc: ClientError, doing: str, grants: str) -> Exception:
    """Access refused is a setup error, said in one line with what to grant; anything else, S3's own."""
    code = str(exc.response.get("Error", {}).get("Code"))
    if code in ("AccessDenied", "403", "AllAccessDisabled"):
        return ConfigError(f"cannot {doing}: access denied. The task's role needs {grants} there "
                           "(the stack's BackfillTaskRole has them)")
    return PipelineError(f"cannot {doing}: {code} {exc.response.get('Error', {}).get('Message', '')}".strip())


def split_s3_url(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ConfigError(f"{url!r} names no bucket (s3://bucket/prefix/)")
    return bucket, prefix
