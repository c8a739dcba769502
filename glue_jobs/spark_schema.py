"""ohlcv_core column definitions as Spark schemas (the Glue type names map one to one)."""

from __future__ import annotations

from pyspark.sql.types import (
    BooleanType,
    DataType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ohlcv_core.schema import Column, GlueType

_TYPES: dict[GlueType, DataType] = {
    "string": StringType(), "bigint": LongType(), "double": DoubleType(), "timestamp": TimestampType(),
    "boolean": BooleanType(),
}


def spark_schema(columns: tuple[Column, ...]) -> StructType:
    return StructType([StructField(c.name, _TYPES[c.type], nullable=True) for c in columns])
