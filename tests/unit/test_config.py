from __future__ import annotations

import pytest

from ohlcv_core import config
from ohlcv_core.errors import ConfigError
from producers.settings import ProducerSettings


def test_argument_beats_environment_beats_default() -> None:
    env = {config.ENV_SYMBOLS: "AAPL"}
    msft: tuple[str, ...] = ("MSFT",)
    fallback: tuple[str, ...] = ("X",)
    assert config.resolve(msft, env, config.ENV_SYMBOLS, None, config.parse_symbols) == ("MSFT",)
    assert config.resolve(None, env, config.ENV_SYMBOLS, None, config.parse_symbols) == ("AAPL",)
    assert config.resolve(None, {}, config.ENV_SYMBOLS, fallback, config.parse_symbols) == ("X",)


def test_missing_and_invalid_settings_say_which_variable() -> None:
    with pytest.raises(ConfigError, match=config.ENV_FIREHOSE_STREAM):
        ProducerSettings.resolve(symbols=("AAPL",), environ={})
    with pytest.raises(ConfigError, match=config.ENV_SYMBOLS):
        ProducerSettings.resolve(stream_name="s", environ={config.ENV_SYMBOLS: " , "})
    with pytest.raises(ConfigError, match="ws://"):
        ProducerSettings.resolve(ws_url="http://x", symbols=("A",), stream_name="s", environ={})


def test_the_api_key_never_shows_in_the_settings_repr() -> None:
    settings = ProducerSettings.resolve(symbols=("AAPL",), stream_name="s",
                                        environ={config.ENV_API_KEY: "secret-key-123"})
    assert settings.api_key == "secret-key-123"
    assert "secret-key-123" not in repr(settings)


def test_an_optional_setting_goes_through_the_same_resolution() -> None:
    from ohlcv_core.config import resolve_optional

    assert resolve_optional(None, {}, "X", int) is None
    assert resolve_optional(None, {"X": ""}, "X", int) is None
    assert resolve_optional(None, {"X": "7"}, "X", int) == 7
    assert resolve_optional(3, {"X": "7"}, "X", int) == 3
    with pytest.raises(ConfigError, match="X='seven' is invalid"):
        resolve_optional(None, {"X": "seven"}, "X", int)
