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


BASE = {config.ENV_SYMBOLS: "AAPL", config.ENV_FIREHOSE_STREAM: "s"}


@pytest.mark.parametrize(("variable", "value"), [
    (config.ENV_SPOOL_MAX_MB, "-1"), (config.ENV_SPOOL_MAX_MB, "0"), (config.ENV_SPOOL_MAX_MB, "nan"),
    (config.ENV_SPOOL_MAX_MB, "inf"), (config.ENV_SHUTDOWN_DEADLINE_S, "-5"),
    (config.ENV_SHUTDOWN_DEADLINE_S, "NaN"), (config.ENV_REPAIR_EVERY_S, "-1"), (config.ENV_REPAIR_EVERY_S, "inf"),
    (config.ENV_CREDITS_PER_MINUTE, "0"), (config.ENV_CREDITS_PER_MINUTE, "-8"), (config.ENV_AWS_REGION, "us east 1"),
    (config.ENV_AWS_REGION, "moon-1"), (config.ENV_SYMBOLS, ","), (config.ENV_SYMBOLS, "AAPL,,MSFT"),
    (config.ENV_SYMBOLS, "AAPL;DROP"), (config.ENV_SYMBOLS, "AAPL:"), (config.ENV_LINGER_MS, "-1"),
    (config.ENV_LINGER_MS, "60001"), (config.ENV_LINGER_MS, "inf"), (config.ENV_PACK_KB, "-1"),
    (config.ENV_PACK_KB, "1001"), (config.ENV_PACK_KB, "64.5"),
])
def test_out_of_range_settings_stop_at_start_with_the_variables_name(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        ProducerSettings.resolve(environ={**BASE, variable: value})


def test_the_same_checks_hold_for_arguments() -> None:
    with pytest.raises(ConfigError, match=config.ENV_SPOOL_MAX_MB):
        ProducerSettings.resolve(spool_max_mb=float("nan"), environ=BASE)
    with pytest.raises(ConfigError, match=config.ENV_SYMBOLS):
        ProducerSettings.resolve(symbols=("",), environ=BASE)
    with pytest.raises(ConfigError, match=config.ENV_AWS_REGION):
        ProducerSettings.resolve(region="Frankfurt", environ=BASE)
    with pytest.raises(ConfigError, match=f"{config.ENV_PACK_KB} must be a finite number at least 0 and at most 1000"):
        ProducerSettings.resolve(pack_kb=4096, environ=BASE)
    assert ProducerSettings.resolve(linger_ms=0, pack_kb=0, environ=BASE).pack_kb == 0
    assert ProducerSettings.resolve(environ={**BASE, config.ENV_LINGER_MS: "250"}).linger_ms == 250
    good = ProducerSettings.resolve(symbols=("RY:TSX", "EUR/USD", "BRK.B"), region="us-gov-west-1", environ=BASE)
    assert good.symbols == ("RY:TSX", "EUR/USD", "BRK.B") and good.region == "us-gov-west-1"
