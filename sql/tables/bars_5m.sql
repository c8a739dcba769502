-- Rendered by `make template` from ohlcv_core/catalog.py; edit that, not this.
-- Replace ${AWS::StackName} and ${AWS::AccountId} with your stack's (or run `ohlcv ddl --stack-name … --account-id …`);
-- the database is the stack's name with _ for -; ${dt} is partition projection's own.
CREATE EXTERNAL TABLE IF NOT EXISTS `${AWS::StackName}`.`bars_5m` (
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
  `final` boolean COMMENT 'true when every minute of it is a REST bar: ticks may still be corrected'
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
