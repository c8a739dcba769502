-- monthly_volume: per symbol and calendar month of the trading day, total volume and trading days.
-- parameters: symbols, from, to
SELECT
    symbol,
    substr(dt, 1, 7) AS month,
    count(*) AS days,
    sum(volume) AS total_volume
FROM bars_1d
WHERE contains(split(?, ','), symbol)
  AND dt BETWEEN ? AND ?
GROUP BY symbol, substr(dt, 1, 7)
ORDER BY symbol, month
