-- price_volume_correlation: per symbol, Pearson's correlation of the daily close-to-close return with the
-- day's volume, and of the absolute return with it (NULL with fewer than two days or no volume).
-- parameters: symbols, from, to
WITH daily AS (
    SELECT
        symbol,
        volume,
        (close - lag(close) OVER (PARTITION BY symbol ORDER BY dt)) / lag(close) OVER (PARTITION BY symbol ORDER BY dt)
            AS daily_return
    FROM bars_1d
    WHERE contains(split(?, ','), symbol)
      AND dt BETWEEN ? AND ?
)
SELECT
    symbol,
    count(daily_return) AS returns,
    corr(daily_return, volume) AS return_volume_corr,
    corr(abs(daily_return), volume) AS abs_return_volume_corr
FROM daily
GROUP BY symbol
ORDER BY symbol
