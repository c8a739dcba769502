"""Checkpoint stores: a folder and an S3 prefix (moto) keep the same checkpoints, replaced whole."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from ohlcv_core.backfill import Checkpoint, Span
from ohlcv_core.errors import ConfigError, PipelineError
from producers.checkpoints import CheckpointStore, FileCheckpoints, S3Checkpoints, split_s3_url


def _round_trip(store: CheckpointStore) -> None:
    assert store.load("EUR/USD", "1h") is None
    checkpoint = Checkpoint("EUR/USD", "1h")
    checkpoint.cover([Span(datetime(2017, 6, 5), datetime(2017, 6, 24))], 456, 1)
    store.save(checkpoint)
    checkpoint.cover([Span(datetime(2017, 6, 24), datetime(2017, 7, 1))], 120, 2)
    store.save(checkpoint)
    again = store.load("EUR/USD", "1h")
    assert again == checkpoint and again.covered == [Span(datetime(2017, 6, 5), datetime(2017, 7, 1))]


def test_a_folder_keeps_checkpoints_and_leaves_no_partial_files(tmp_path: Path) -> None:
    _round_trip(FileCheckpoints(tmp_path))
    assert sorted(p.name for p in (tmp_path / "1h").iterdir()) == ["EUR_USD.json"]


def test_an_unreadable_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "1day").mkdir()
    (tmp_path / "1day" / "GOOG.json").write_text("{not json")
    with pytest.raises(PipelineError, match=r"unreadable .* delete it or use --force"):
        FileCheckpoints(tmp_path).load("GOOG", "1day")


@mock_aws
def test_an_s3_prefix_keeps_the_same_checkpoints() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="state")
    bucket, prefix = split_s3_url("s3://state/backfill/")
    _round_trip(S3Checkpoints(client, bucket, prefix))
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="state")["Contents"]]
    assert keys == ["backfill/1h/EUR_USD.json"]


def test_a_checkpoint_the_role_may_not_read_is_one_clear_setup_error() -> None:
    # GIVEN S3 refusing the task's role (a stack whose role lacks the grants), as AWS answers it
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    store = S3Checkpoints(client, "state", "backfill/")
    with Stubber(client) as s3:
        s3.add_client_error("list_objects_v2", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(ConfigError, match=r"cannot read the checkpoint s3://state/backfill/1h/EUR_USD.json: "
                                              r"access denied\. The task's role needs s3:ListBucket"):
            store.load("EUR/USD", "1h")
        s3.add_client_error("put_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(ConfigError, match="needs s3:PutObject"):
            store.save(Checkpoint("EUR/USD", "1h"))
