-- Generated from cloudformation/template.yaml by `ohlcv ddl --write`; edit the template, not this.
-- Replace ${AWS::StackName} and ${AWS::AccountId} with your stack's (or run `ohlcv ddl --stack-name … --account-id …`);
-- the database is the stack's name with _ for -; ${dt} and ${hour} are partition projection's own.
CREATE EXTERNAL TABLE IF NOT EXISTS `${AWS::StackName}`.`raw_bars` (
  `schema_version` bigint,
  `kind` string,
  `symbol` string,
  `exchange` string,
  `mic_code` string,
  `currency` string,
  `currency_base` string,
  `currency_quote` string,
  `instrument_type` string,
  `interval` string,
  `time_zone` string,
  `bar_datetime` string,
  `event_time_ms` bigint,
  `open` double,
  `high` double,
  `low` double,
  `close` double,
  `volume` double,
  `received_at_ms` bigint,
  `arrival_ms` bigint,
  `source` string,
  `idempotency_key` string
)
COMMENT 'REST time_series bars as the transform wrote them (JSON Lines), by bar-open hour.'
PARTITIONED BY (`dt` string COMMENT 'bar-open date, UTC, yyyy-MM-dd', `hour` string COMMENT 'bar-open hour, UTC, HH')
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://${AWS::StackName}-raw-${AWS::AccountId}/raw/kind=bar/'
TBLPROPERTIES (
  'classification'='json',
  'projection.dt.format'='yyyy-MM-dd',
  'projection.dt.interval'='1',
  'projection.dt.interval.unit'='DAYS',
  'projection.dt.range'='1970-01-01,NOW',
  'projection.dt.type'='date',
  'projection.enabled'='true',
  'projection.hour.digits'='2',
  'projection.hour.range'='0,23',
  'projection.hour.type'='integer',
  'storage.location.template'='s3://${AWS::StackName}-raw-${AWS::AccountId}/raw/kind=bar/dt=${dt}/hour=${hour}/'
);
