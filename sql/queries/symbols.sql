-- symbols: every symbol with daily bars in the range of days, its first and last day, its days (with
-- volume: forex publishes none) and its last close (the dashboards' symbol picker and first view).
-- parameters: from, to
SELECT
    symbol,
    min(dt) AS first_day,
    max(dt) AS last_day,
    count(*) AS days,
    count(volume) AS days_with_volume,
    max_by(close, dt) AS last_close
FROM bars_1d
WHERE dt BETWEEN ? AND ?
GROUP BY symbol
ORDER BY symbol
