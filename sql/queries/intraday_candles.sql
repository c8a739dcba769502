-- intraday_candles: one symbol's 1-minute candles with volume between two UTC days, from the live view
-- (compacted minutes from the curated zone, the newest from the raw zone), oldest first.
-- parameters: symbols, from, to
SELECT
    symbol,
    bar_start,
    open,
    high,
    low,
    close,
    volume,
    tick_count,
    source,
    compacted
FROM bars_1m_live
WHERE contains(split(?, ','), symbol)
  AND dt BETWEEN ? AND ?
ORDER BY symbol, bar_start
