"""The boto3 Firehose client, the same on AWS and against the local endpoint (only endpoint_url differs)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from producers.secrets import api_key_from_secret

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient

# Our sink decides about resends (only failed records, with jittered backoff): botocore retries once at most.
# Parameter validation is off: BatchBuilder already keeps every call within the API's limits, the service
# checks again, and client-side validation of 500 blobs a call costs a fifth of the producer's CPU.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"total_max_attempts": 2, "mode": "standard"},
                       parameter_validation=False)


def api_key_or_secret(api_key: str | None, secret_id: str | None, region: str) -> str | None:
    """The key given; else, with a secret named, the key it holds (read once, at start)."""
    if api_key or not secret_id:
        return api_key
    return api_key_from_secret(boto3.session.Session().client("secretsmanager", region_name=region), secret_id)


def session_for(endpoint_url: str | None) -> boto3.session.Session:
    """A session for AWS, or for the local endpoint: the local endpoint does not check signatures, but
    boto3 still wants something to sign with when the environment holds no credentials."""
    session = boto3.session.Session()
    local = endpoint_url is not None and urlsplit(endpoint_url).hostname in ("127.0.0.1", "localhost", "::1")
    if local and session.get_credentials() is None:
        session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local")
    return session


def firehose_client(region: str, endpoint_url: str | None = None) -> FirehoseClient:
    return session_for(endpoint_url).client("firehose", region_name=region, endpoint_url=endpoint_url,
                                             config=CLIENT_CONFIG)
