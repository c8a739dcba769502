-- price_vs_volume: each trading day's close-to-close return in percent beside its volume, for a scatter
-- of price against volume (the first day of the range has no return).
-- parameters: symbols, from, to
SELECT
    symbol,
    dt AS day,
    close,
    volume,
    (close - lag(close) OVER (PARTITION BY symbol ORDER BY dt)) / lag(close) OVER (PARTITION BY symbol ORDER BY dt)
        * 100 AS return_pct
FROM bars_1d
WHERE contains(split(?, ','), symbol)
  AND dt BETWEEN ? AND ?
ORDER BY symbol, day
