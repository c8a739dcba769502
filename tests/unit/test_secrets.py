from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from ohlcv_core.errors import ConfigError
from producers.secrets import api_key_from_secret


@pytest.fixture
def secrets() -> Any:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def test_a_plain_or_json_secret_gives_the_key(secrets: Any) -> None:
    secrets.create_secret(Name="plain", SecretString="k-123 ")
    secrets.create_secret(Name="json", SecretString='{"apikey": "k-456"}')
    assert api_key_from_secret(secrets, "plain") == "k-123"
    assert api_key_from_secret(secrets, "json") == "k-456"


def test_a_missing_or_empty_secret_is_a_clear_error_without_the_value(secrets: Any) -> None:
    secrets.create_secret(Name="other", SecretString='{"password": "p-789"}')
    with pytest.raises(ConfigError, match="holds no API key") as caught:
        api_key_from_secret(secrets, "other")
    assert "p-789" not in str(caught.value)
    with pytest.raises(ConfigError, match="cannot read"):
        api_key_from_secret(secrets, "absent")
