-- Generated from cloudformation/template.yaml by `ohlcv ddl --write`; edit the template, not this.
-- Replace ${AWS::StackName} and ${AWS::AccountId} with your stack's (or run `ohlcv ddl --stack-name … --account-id …`);
-- the database is the stack's name with _ for -; ${dt} is partition projection's own.
CREATE EXTERNAL TABLE IF NOT EXISTS `${AWS::StackName}`.`quality_quarantine` (
  `table_name` string,
  `symbol` string,
  `exchange` string,
  `bar_start` timestamp,
  `open` double,
  `high` double,
  `low` double,
  `close` double,
  `volume` double,
  `tick_count` bigint,
  `source` string,
  `final` boolean,
  `prev_close` double,
  `ret_z` double,
  `flat_run` bigint,
  `repeats_previous` bigint,
  `missing_before` bigint,
  `in_session` boolean,
  `is_last` boolean,
  `session_open_now` boolean,
  `close_vs_ticks_bps` double,
  `volume_vs_ticks_pct` double,
  `day_vs_minutes_pct` double,
  `rule` string,
  `action` string,
  `reason` string,
  `run_id` string,
  `checked_at` timestamp
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
