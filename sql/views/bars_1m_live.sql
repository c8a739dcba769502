-- bars_1m_live: 1-minute bars as fresh as the intake. Every minute compaction has published comes from
-- bars_1m (compacted = true); every other minute is computed here as compaction computes it (copies
-- counted once, open/close first/last in event order, volume from day_volume's increments, a REST 1min
-- bar over the ticks of its minute: ohlcv_core/bars.py, the definition), compacted = false, from the
-- events of the raw zone and, with the stack's hot path (LivePath), the copies of the last minutes'
-- events it delivered to live_prices seconds after they were received, before the raw zone's 60 s
-- buffer delivers them. An event is one event whichever copies hold it (one idempotency key), so each
-- (symbol, bar_start) appears once and each event counts once.
-- Filter on dt (the minute's UTC day) as on bars_1m: the filter reaches the raw zone's partitions too;
-- of live_prices only the folders of the last 10 minutes are read, whatever the filter.
-- Provisional minutes differ from what compaction will publish in two ways (docs/sql.md): the first
-- minute of a UTC day has no increment from the day before, and withheld REST bars are not yet withheld.
CREATE OR REPLACE VIEW bars_1m_live AS
-- (Events of one instant are ordered by day_volume with nulls first, as compaction orders them: Athena
-- would put them last.)
WITH events AS (
    SELECT symbol, exchange, event_time_ms, price, day_volume, idempotency_key, received_at_ms, arrival_ms, source, dt
    FROM raw_prices
    UNION ALL
    -- The hot path: the last 10 minutes of arrivals (a copy older than that is in the raw zone, whose
    -- buffer delivers within 90 s), their event day computed as the transform computes the raw zone's dt.
    SELECT symbol, exchange, event_time_ms, price, day_volume, idempotency_key, received_at_ms, arrival_ms, source,
           date_format(from_unixtime(event_time_ms / 1000), '%Y-%m-%d') AS dt
    FROM live_prices
    WHERE arrival_minute >= date_format(current_timestamp - INTERVAL '10' MINUTE, '%Y-%m-%d-%H-%i')
),
prices AS (
    SELECT
        symbol, exchange, event_time_ms, price, day_volume, idempotency_key, dt,
        row_number() OVER (PARTITION BY dt, idempotency_key ORDER BY received_at_ms, arrival_ms, source) AS copy
    FROM events
),
ordered AS (
    SELECT
        symbol, exchange, price, dt,
        event_time_ms - event_time_ms % 60000 AS minute_ms,
        row_number() OVER (PARTITION BY dt, symbol
                           ORDER BY event_time_ms, day_volume NULLS FIRST, price, idempotency_key) AS seq,
        day_volume,
        lag(day_volume) OVER (PARTITION BY dt, symbol
                              ORDER BY event_time_ms, day_volume NULLS FIRST, price, idempotency_key) AS previous_volume
    FROM prices
    WHERE copy = 1
),
ticks AS (
    SELECT
        symbol, minute_ms, dt,
        max(exchange) AS exchange,
        min_by(price, seq) AS open,
        max(price) AS high,
        min(price) AS low,
        max_by(price, seq) AS close,
        CAST(sum(CASE WHEN day_volume IS NULL OR previous_volume IS NULL THEN NULL
                      WHEN day_volume >= previous_volume THEN day_volume - previous_volume
                      ELSE day_volume END) AS double) AS volume,
        count(*) AS tick_count
    FROM ordered
    GROUP BY symbol, minute_ms, dt
),
rest AS (
    SELECT symbol, exchange, minute_ms, dt, open, high, low, close, volume
    FROM (
        SELECT
            symbol, exchange, event_time_ms AS minute_ms, dt, open, high, low, close, volume,
            row_number() OVER (PARTITION BY dt, symbol, event_time_ms
                               ORDER BY received_at_ms DESC, arrival_ms DESC, idempotency_key) AS version
        FROM raw_bars
        WHERE "interval" = '1min'
    )
    WHERE version = 1
),
fresh AS (
    SELECT
        coalesce(r.symbol, t.symbol) AS symbol,
        coalesce(r.exchange, t.exchange) AS exchange,
        date_add('millisecond', coalesce(r.minute_ms, t.minute_ms), TIMESTAMP '1970-01-01 00:00:00') AS bar_start,
        CASE WHEN r.symbol IS NULL THEN t.open ELSE r.open END AS open,
        CASE WHEN r.symbol IS NULL THEN t.high ELSE r.high END AS high,
        CASE WHEN r.symbol IS NULL THEN t.low ELSE r.low END AS low,
        CASE WHEN r.symbol IS NULL THEN t.close ELSE r.close END AS close,
        CASE WHEN r.symbol IS NULL THEN t.volume ELSE r.volume END AS volume,
        coalesce(t.tick_count, 0) AS tick_count,
        CASE WHEN r.symbol IS NULL THEN 'ticks' ELSE 'rest' END AS source,
        r.symbol IS NOT NULL AS final,
        coalesce(r.dt, t.dt) AS dt
    FROM ticks AS t
    FULL OUTER JOIN rest AS r
        ON r.dt = t.dt AND r.symbol = t.symbol AND r.minute_ms = t.minute_ms
)
SELECT symbol, exchange, bar_start, open, high, low, close, volume, tick_count, source, final, true AS compacted, dt
FROM bars_1m
UNION ALL
SELECT f.symbol, f.exchange, f.bar_start, f.open, f.high, f.low, f.close, f.volume, f.tick_count, f.source, f.final,
       false AS compacted, f.dt
FROM fresh AS f
WHERE NOT EXISTS (
    SELECT 1 FROM bars_1m AS c
    WHERE c.dt = f.dt AND c.symbol = f.symbol AND c.bar_start = f.bar_start
)
