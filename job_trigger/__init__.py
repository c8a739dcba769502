"""The compaction trigger (deployable unit: a Lambda bundle): S3 Object Created events, buffered by SQS,
become one compaction run per batch."""
