-- quarantined_rows: per symbol, rule and action (withheld or flagged), how many bars the quality job
-- quarantined in the range of days, with the latest reason given.
-- parameters: symbols, from, to
SELECT
    symbol,
    rule,
    action,
    count(*) AS bars,
    max_by(reason, checked_at) AS latest_reason
FROM quality_quarantine
WHERE contains(split(?, ','), symbol)
  AND dt BETWEEN ? AND ?
GROUP BY symbol, rule, action
ORDER BY symbol, bars DESC, rule
