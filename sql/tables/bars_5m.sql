-- Generated from cloudformation/template.yaml by `ohlcv ddl --write`; edit the template, not this.
-- Replace ${AWS::StackName} and ${AWS::AccountId} with your stack's (or run `ohlcv ddl --stack-name … --account-id …`);
-- the database is the stack's name with _ for -; ${dt} is partition projection's own.
CREATE EXTERNAL TABLE IF NOT EXISTS `${AWS::StackName}`.`bars_5m` (
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
  `final` boolean
)
COMMENT '5-minute bars rolled up from bars_1m'
PARTITIONED BY (`dt` string COMMENT 'bar date, UTC, yyyy-MM-dd')
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://${AWS::StackName}-curated-${AWS::AccountId}/bars_5m/'
TBLPROPERTIES (
  'classification'='parquet',
  'parquet.compression'='SNAPPY',
  'projection.dt.format'='yyyy-MM-dd',
  'projection.dt.interval'='1',
  'projection.dt.interval.unit'='DAYS',
  'projection.dt.range'='2000-01-01,NOW',
  'projection.dt.type'='date',
  'projection.enabled'='true',
  'storage.location.template'='s3://${AWS::StackName}-curated-${AWS::AccountId}/bars_5m/dt=${dt}/'
);
