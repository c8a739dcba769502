"""The Spark session the jobs run on: Glue's own on AWS, one long-lived local session elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

from pyspark.sql import SparkSession

LOG4J_CONF = Path(__file__).resolve().parent / "log4j2-local.properties"

# Settings the jobs' results depend on: applied to whatever session they are handed.
JOB_SQL_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "snappy",
}


def apply_job_conf(spark: SparkSession) -> SparkSession:
    for key, value in JOB_SQL_CONF.items():
        spark.conf.set(key, value)
    return spark


def local_session(app_name: str = "ohlcv-local", shuffle_partitions: int = 4) -> SparkSession:
    # Loopback only: the local session serves nobody else (and Spark stops warning about the host name).
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = (SparkSession.builder.master("local[2]").appName(app_name)
               .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG4J_CONF.as_uri()}")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
               .config("spark.driver.memory", "2g")
               .config("spark.sql.adaptive.enabled", "true"))
    for key, value in JOB_SQL_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
