-- Generated from cloudformation/template.yaml by `ohlcv ddl --write`; edit the template, not this.
-- Replace ${AWS::StackName} and ${AWS::AccountId} with your stack's (or run `ohlcv ddl --stack-name … --account-id …`);
-- the database is the stack's name with _ for -; ${year} is partition projection's own.
CREATE EXTERNAL TABLE IF NOT EXISTS `${AWS::StackName}`.`bars_1d` (
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
  `dt` string COMMENT 'trading day, yyyy-MM-dd'
)
COMMENT 'daily bars by trading day (exchange time zone; UTC for 24/7 instruments)'
PARTITIONED BY (`year` string COMMENT 'year of the trading day, yyyy')
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://${AWS::StackName}-curated-${AWS::AccountId}/bars_1d/'
TBLPROPERTIES (
  'classification'='parquet',
  'parquet.compression'='SNAPPY',
  'projection.enabled'='true',
  'projection.year.format'='yyyy',
  'projection.year.interval'='1',
  'projection.year.interval.unit'='YEARS',
  'projection.year.range'='2000,NOW',
  'projection.year.type'='date',
  'storage.location.template'='s3://${AWS::StackName}-curated-${AWS::AccountId}/bars_1d/year=${year}/'
);
