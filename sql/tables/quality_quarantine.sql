-- Rendered by `make template` from ohlcv_core/catalog.py; edit that, not this.
-- Replace ${AWS::StackName} and ${AWS::AccountId} with your stack's (or run `ohlcv ddl --stack-name … --account-id …`);
-- the database is the stack's name with _ for -; ${dt} is partition projection's own.
CREATE EXTERNAL TABLE IF NOT EXISTS `${AWS::StackName}`.`quality_quarantine` (
  `table_name` string COMMENT 'the curated table the bar is (flagged) or would be (withheld) in',
  `symbol` string COMMENT 'canonical Twelve Data symbol',
  `exchange` string COMMENT 'venue name',
  `bar_start` timestamp COMMENT 'bar open time, UTC',
  `open` double COMMENT 'first price by event time',
  `high` double COMMENT 'highest price',
  `low` double COMMENT 'lowest price',
  `close` double COMMENT 'last price by event time',
  `volume` double COMMENT 'traded volume: REST\'s, or day_volume differences; null without volume',
  `tick_count` bigint COMMENT 'distinct price events in the bar',
  `source` string COMMENT 'rest (REST bars), ticks (price events), mixed (a rollup of both)',
  `final` boolean COMMENT 'true when every minute of it is a REST bar: ticks may still be corrected',
  `prev_close` double COMMENT 'the close of the bar before, same table and symbol',
  `ret_z` double COMMENT '|log return| in robust deviations of the symbol\'s last 60 returns',
  `flat_run` bigint COMMENT 'bars in a row, ending here, that did not move',
  `repeats_previous` bigint COMMENT '1 when the bar copies the one before (open to volume)',
  `missing_before` bigint COMMENT 'session slots with no bar between the bar before and this one',
  `in_session` boolean COMMENT 'the bar starts in a session of its market',
  `is_last` boolean COMMENT 'the symbol\'s latest minute',
  `session_open_now` boolean COMMENT 'its market was open when checked, and the bar is of that day',
  `close_vs_ticks_bps` double COMMENT 'a REST minute\'s close against the ticks\' close, basis points',
  `volume_vs_ticks_pct` double COMMENT 'a REST minute\'s volume against the ticks\' volume, percent',
  `day_vs_minutes_pct` double COMMENT 'a REST daily bar against its day\'s minutes, percent',
  `rule` string COMMENT 'the rule\'s name in the ruleset',
  `action` string COMMENT 'withheld (kept out of the curated table) or flagged (kept, listed)',
  `reason` string COMMENT 'what the rule checks, and the rule as written',
  `run_id` string COMMENT 'the quality run that found it',
  `checked_at` timestamp COMMENT 'when that run checked it, UTC'
)
COMMENT 'bars a quality rule failed: withheld (kept out) or flagged (kept), with the rule and why'
PARTITIONED BY (`dt` string COMMENT 'the bar\'s partition (its table\'s dt)')
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://${AWS::StackName}-curated-${AWS::AccountId}/quality/quarantine/'
TBLPROPERTIES (
  'classification'='parquet',
  'parquet.compression'='SNAPPY',
  'projection.dt.format'='yyyy-MM-dd',
  'projection.dt.interval'='1',
  'projection.dt.interval.unit'='DAYS',
  'projection.dt.range'='2000-01-01,NOW',
  'projection.dt.type'='date',
  'projection.enabled'='true',
  'storage.location.template'='s3://${AWS::StackName}-curated-${AWS::AccountId}/quality/quarantine/dt=${dt}/'
);
