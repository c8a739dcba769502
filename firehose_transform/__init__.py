"""The Firehose transformation Lambda (deployable unit: a Lambda bundle with ohlcv_core beside it)."""
