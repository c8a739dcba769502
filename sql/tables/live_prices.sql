-- Rendered by `make template` from ohlcv_core/catalog.py; edit that, not this.
-- Replace ${AWS::StackName} and ${AWS::AccountId} with your stack's (or run `ohlcv ddl --stack-name … --account-id …`);
-- the database is the stack's name with _ for -; ${arrival_minute} is partition projection's own.
CREATE EXTERNAL TABLE IF NOT EXISTS `${AWS::StackName}`.`live_prices` (
  `schema_version` bigint COMMENT 'raw-zone schema version',
  `kind` string COMMENT 'record kind: price',
  `symbol` string COMMENT 'canonical Twelve Data symbol',
  `exchange` string COMMENT 'venue name as Twelve Data sends it',
  `mic_code` string COMMENT 'ISO 10383 market identifier, when sent',
  `currency` string COMMENT 'quote currency of equities',
  `currency_base` string COMMENT 'base of a pair',
  `currency_quote` string COMMENT 'quote of a pair',
  `instrument_type` string COMMENT 'Twelve Data instrument type',
  `event_time_ms` bigint COMMENT 'event time, UTC epoch milliseconds',
  `price` double COMMENT 'last price',
  `bid` double COMMENT 'bid, when sent',
  `ask` double COMMENT 'ask, when sent',
  `day_volume` bigint COMMENT 'cumulative volume of the trading day, equities only',
  `received_at_ms` bigint COMMENT 'when the producer received it, UTC epoch ms',
  `arrival_ms` bigint COMMENT 'when Firehose received the record, UTC epoch ms',
  `source` string COMMENT 'envelope source',
  `idempotency_key` string COMMENT 'deterministic key: equal for re-sends and replays'
)
COMMENT 'Streamed price events as the hot path delivered them (JSON Lines), by arrival minute; kept a day. bars_1m_live reads the last minutes of it.'
PARTITIONED BY (`arrival_minute` string COMMENT 'minute Firehose received the object\'s first record, UTC, yyyy-MM-dd-HH-mm')
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://${AWS::StackName}-raw-${AWS::AccountId}/live/'
TBLPROPERTIES (
  'classification'='json',
  'projection.arrival_minute.format'='yyyy-MM-dd-HH-mm',
  'projection.arrival_minute.interval'='1',
  'projection.arrival_minute.interval.unit'='MINUTES',
  'projection.arrival_minute.range'='NOW-1DAYS,NOW',
  'projection.arrival_minute.type'='date',
  'projection.enabled'='true',
  'storage.location.template'='s3://${AWS::StackName}-raw-${AWS::AccountId}/live/arrival_minute=${arrival_minute}/'
);
