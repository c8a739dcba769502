-- daily_volume: each trading day's volume per symbol (NULL where the venue publishes none, as forex).
-- parameters: symbols, from, to
SELECT
    symbol,
    dt AS day,
    volume
FROM bars_1d
WHERE contains(split(?, ','), symbol)
  AND dt BETWEEN ? AND ?
ORDER BY symbol, day
