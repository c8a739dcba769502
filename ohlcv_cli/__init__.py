"""The `ohlcv` command."""
