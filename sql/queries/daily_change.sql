-- daily_change: each trading day's change from open to close in percent, and its close-to-close return
-- in percent (NULL on the first day of the range, which has no close before it here).
-- parameters: symbols, from, to
SELECT
    symbol,
    dt AS day,
    open,
    close,
    (close - open) / open * 100 AS change_pct,
    (close - lag(close) OVER (PARTITION BY symbol ORDER BY dt)) / lag(close) OVER (PARTITION BY symbol ORDER BY dt)
        * 100 AS return_pct
FROM bars_1d
WHERE contains(split(?, ','), symbol)
  AND dt BETWEEN ? AND ?
ORDER BY symbol, day
