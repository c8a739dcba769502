-- quality_runs: each quality run made in the range of days (when it ran, UTC): the market days it judged,
-- how many rules passed and failed (blocking ones apart) and its score, the share of rules passed.
-- parameters: from, to
SELECT
    run_id,
    max(checked_at) AS checked_at,
    min(first_date) AS first_date,
    max(last_date) AS last_date,
    count(*) AS rules,
    count_if(outcome = 'Passed') AS passed,
    count_if(outcome <> 'Passed') AS failed,
    count_if(outcome <> 'Passed' AND blocking) AS blocking_failed,
    CAST(count_if(outcome = 'Passed') AS double) / count(*) AS score
FROM quality_results
WHERE run_date BETWEEN ? AND ?
GROUP BY run_id
ORDER BY checked_at
