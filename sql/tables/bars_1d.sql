-- Rendered by `make template` from ohlcv_core/catalog.py; edit that, not this.
-- Replace ${AWS::StackName} and ${AWS::AccountId} with your stack's (or run `ohlcv ddl --stack-name … --account-id …`);
-- the database is the stack's name with _ for -; ${year} is partition projection's own.
CREATE EXTERNAL TABLE IF NOT EXISTS `${AWS::StackName}`.`bars_1d` (
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
  `dt` string COMMENT 'trading day, yyyy-MM-dd (exchange time zone; UTC for 24/7 instruments)'
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
