"""The services' published limits, written once: every side that enforces or respects one reads it here.

Sources: docs/aws-contracts (Firehose, Lambda) and Twelve Data's API description.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB

# Firehose PutRecordBatch
FIREHOSE_MAX_BATCH_RECORDS = 500
FIREHOSE_MAX_BATCH_BYTES = 4 * MIB
FIREHOSE_MAX_RECORD_BYTES = 1000 * KIB  # before base64

# A synchronous Lambda invocation's request and response
LAMBDA_PAYLOAD_BYTES = 6 * MIB

# Twelve Data REST: symbols in one batch request
TWELVEDATA_MAX_BATCH_SYMBOLS = 120
# Twelve Data REST: bars in one time_series answer (per symbol)
TWELVEDATA_MAX_OUTPUTSIZE = 5000

# The largest integer a typed decoder (msgspec) takes for an int field: JSON integers beyond it are no
# count or time this engine uses.
INT64_MAX = 2**63 - 1

# The producer's copies to the hot path (LivePath) go at most once this long: at most one PutRecordBatch,
# so one object and one transform invocation, a second, whatever the quote rate (`ohlcv cost` bills it).
HOT_PATH_LINGER_S = 1.0
