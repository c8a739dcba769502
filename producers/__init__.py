"""The producer service (deployable unit: a container image): Twelve Data -> envelopes -> Firehose."""
