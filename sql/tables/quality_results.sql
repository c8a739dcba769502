-- Rendered by `make template` from ohlcv_core/catalog.py; edit that, not this.
-- Replace ${AWS::StackName} and ${AWS::AccountId} with your stack's (or run `ohlcv ddl --stack-name … --account-id …`);
-- the database is the stack's name with _ for -; ${run_date} is partition projection's own.
CREATE EXTERNAL TABLE IF NOT EXISTS `${AWS::StackName}`.`quality_results` (
  `run_id` string COMMENT 'the quality run',
  `checked_at` timestamp COMMENT 'when it ran, UTC',
  `first_date` string COMMENT 'first date checked, yyyy-MM-dd',
  `last_date` string COMMENT 'last date checked, yyyy-MM-dd',
  `dates` bigint COMMENT 'how many dates were checked',
  `rule` string COMMENT 'the rule\'s name in the ruleset',
  `rule_type` string COMMENT 'its DQDL rule type',
  `rule_text` string COMMENT 'the rule as written in DQDL',
  `policy` string COMMENT 'withhold or flag: what happens to the rows it fails',
  `blocking` boolean COMMENT 'whether its failure fails the run',
  `outcome` string COMMENT 'Passed or Failed',
  `judged_by` string COMMENT 'glue (Glue Data Quality\'s outcome, on AWS) or local (the job\'s own evaluator)',
  `measured` double COMMENT 'the share of rows that passed (row rules) or the number compared',
  `rows_checked` bigint COMMENT 'rows the rule judged',
  `rows_failed` bigint COMMENT 'rows it failed',
  `score` double COMMENT 'the run\'s share of rules passed',
  `message` string COMMENT 'the outcome in words'
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
