"""The pure core: record schemas, parsing, validation, keys and bar arithmetic.

Nothing here does network or cloud I/O: no boto3, no sockets, no Spark. Producers, the transform
Lambda, the Glue jobs and the local stack import this package and only adapt I/O around it.
"""
