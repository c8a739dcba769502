-- average_daily_range: per symbol, the average of each trading day's range (high - low), absolute and as
-- a percentage of the open.
-- parameters: symbols, from, to
SELECT
    symbol,
    count(*) AS days,
    avg(high - low) AS avg_range,
    avg((high - low) / open * 100) AS avg_range_pct
FROM bars_1d
WHERE contains(split(?, ','), symbol)
  AND dt BETWEEN ? AND ?
GROUP BY symbol
ORDER BY symbol
