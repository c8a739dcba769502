"""Glue job scripts (deployable unit: the script, with glue_jobs and ohlcv_core zipped as --extra-py-files by
`ohlcv package`)."""
