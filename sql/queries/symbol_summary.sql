-- symbol_summary: per symbol over the range, its first and last trading day, the first open and last
-- close, the return between them in percent, and how many days were final (REST) bars.
-- parameters: symbols, from, to
SELECT
    symbol,
    min(dt) AS first_day,
    max(dt) AS last_day,
    count(*) AS days,
    min_by(open, dt) AS first_open,
    max_by(close, dt) AS last_close,
    (max_by(close, dt) - min_by(open, dt)) / min_by(open, dt) * 100 AS return_pct,
    count_if(final) AS final_days
FROM bars_1d
WHERE contains(split(?, ','), symbol)
  AND dt BETWEEN ? AND ?
GROUP BY symbol
ORDER BY symbol
