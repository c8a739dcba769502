-- One row per symbol: how many 1-minute bars the curated zone holds, their span and the latest close.
CREATE OR REPLACE VIEW symbol_summary AS
SELECT
    symbol,
    count(*) AS bars,
    min(bar_start) AS first_bar,
    max(bar_start) AS last_bar,
    max_by(close, bar_start) AS last_close,
    sum(volume) AS volume,
    sum(tick_count) AS ticks
FROM bars_1m
GROUP BY symbol
