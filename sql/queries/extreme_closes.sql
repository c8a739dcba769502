-- extreme_closes: per symbol, the highest and the lowest close of the range and the trading day of each
-- (the earliest day when a close repeats).
-- parameters: symbols, from, to
SELECT
    symbol,
    max(close) AS highest_close,
    min_by(dt, ROW(-close, dt)) AS highest_close_day,
    min(close) AS lowest_close,
    min_by(dt, ROW(close, dt)) AS lowest_close_day
FROM bars_1d
WHERE contains(split(?, ','), symbol)
  AND dt BETWEEN ? AND ?
GROUP BY symbol
ORDER BY symbol
