-- freshness: per symbol, its newest minute in the live view and how many minutes it has over the range,
-- with the newest compacted minute beside it (what a dashboard shows as data freshness).
-- parameters: symbols, from, to
SELECT
    symbol,
    max(bar_start) AS newest_minute,
    max(CASE WHEN compacted THEN bar_start END) AS newest_compacted_minute,
    count(*) AS minutes
FROM bars_1m_live
WHERE contains(split(?, ','), symbol)
  AND dt BETWEEN ? AND ?
GROUP BY symbol
ORDER BY symbol
