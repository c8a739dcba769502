"""The dashboards over a lake (docs/dashboards.md): the QuickSight analysis's four charts from the same
named queries, live candles, the pipeline and quality; served by `ohlcv dashboard` over any lake and by
`ohlcv local up` beside the local stack. Not a stand-in: it reads the lake through the local Athena."""
