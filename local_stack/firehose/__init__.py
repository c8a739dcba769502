"""Firehose stand-in: the JSON API over HTTP, buffering, the transform Lambda, S3 delivery."""
