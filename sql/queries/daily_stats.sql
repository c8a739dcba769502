-- daily_stats: per symbol and UTC day, from its 1-minute bars: average open and close, highest high,
-- lowest low, total volume and how many minutes had a bar.
-- parameters: symbols, from, to
SELECT
    symbol,
    dt AS day,
    count(*) AS minutes,
    avg(open) AS avg_open,
    avg(close) AS avg_close,
    max(high) AS max_high,
    min(low) AS min_low,
    sum(volume) AS total_volume
FROM bars_1m
WHERE contains(split(?, ','), symbol)
  AND dt BETWEEN ? AND ?
GROUP BY symbol, dt
ORDER BY symbol, day
