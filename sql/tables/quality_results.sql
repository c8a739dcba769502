-- Generated from cloudformation/template.yaml by `ohlcv ddl --write`; edit the template, not this.
-- Replace ${AWS::StackName} and ${AWS::AccountId} with your stack's (or run `ohlcv ddl --stack-name … --account-id …`);
-- the database is the stack's name with _ for -; ${run_date} is partition projection's own.
CREATE EXTERNAL TABLE IF NOT EXISTS `${AWS::StackName}`.`quality_results` (
  `run_id` string,
  `checked_at` timestamp,
  `first_date` string,
  `last_date` string,
  `dates` bigint,
  `rule` string,
  `rule_type` string,
  `rule_text` string,
  `policy` string,
  `blocking` boolean,
  `outcome` string,
  `judged_by` string,
  `measured` double,
  `rows_checked` bigint,
  `rows_failed` bigint,
  `score` double,
  `message` string
)
COMMENT 'one row per rule per quality run: outcome, measured value, score (its trend over run_date)'
PARTITIONED BY (`run_date` string COMMENT 'the day the run checked, UTC, yyyy-MM-dd')
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat'
LOCATION 's3://${AWS::StackName}-curated-${AWS::AccountId}/quality/results/'
TBLPROPERTIES (
  'classification'='parquet',
  'parquet.compression'='SNAPPY',
  'projection.enabled'='true',
  'projection.run_date.format'='yyyy-MM-dd',
  'projection.run_date.interval'='1',
  'projection.run_date.interval.unit'='DAYS',
  'projection.run_date.range'='2020-01-01,NOW',
  'projection.run_date.type'='date',
  'storage.location.template'='s3://${AWS::StackName}-curated-${AWS::AccountId}/quality/results/run_date=${run_date}/'
);
