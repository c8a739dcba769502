"""Glue job scripts (deployable unit: uploaded with ohlcv_core.zip as --extra-py-files)."""
