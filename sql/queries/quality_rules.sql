-- quality_rules: the latest quality run made in the range of days (when it ran, UTC), rule by rule:
-- outcome, policy, whether it blocks, rows checked and failed, the measure and the message.
-- parameters: from, to
WITH runs AS (
    SELECT *
    FROM quality_results
    WHERE run_date BETWEEN ? AND ?
)
SELECT
    rule,
    outcome,
    policy,
    blocking,
    rows_checked,
    rows_failed,
    measured,
    message
FROM runs
WHERE run_id = (SELECT max_by(run_id, checked_at) FROM runs)
ORDER BY outcome <> 'Passed' DESC, rule
