-- symbol_stats: per symbol over the range, average open and close, highest high, lowest low, total volume.
-- parameters: symbols, from, to
SELECT
    symbol,
    count(*) AS days,
    avg(open) AS avg_open,
    avg(close) AS avg_close,
    max(high) AS max_high,
    min(low) AS min_low,
    sum(volume) AS total_volume
FROM bars_1d
WHERE contains(split(?, ','), symbol)
  AND dt BETWEEN ? AND ?
GROUP BY symbol
ORDER BY symbol
