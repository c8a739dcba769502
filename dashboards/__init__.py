"""The dashboards over a lake (docs/dashboards.md): the charts of stack_tools/charts.py, which QuickSight's
analysis draws too, from the same named queries (market, live candles, quality), and the pipeline; served
by `ohlcv dashboard` over any lake or deployed stack and by `ohlcv local up` beside the local stack."""
