"""What the template writes by hand agrees with the core: where Firehose writes is where the raw tables read,
the jobs' locations are the tables', the names and namespaces are the core's. (The tables themselves are
rendered from ohlcv_core/catalog.py: tests/unit/test_render.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from ohlcv_core.curated import MANIFEST_NAME, manifest_url, partition_of
from ohlcv_core.errors import ConfigError
from ohlcv_core.schema import (
    BAR_TABLES,
    FIREHOSE_PARTITION_KEYS,
)
from stack_tools.template import DEFAULT_TEMPLATE, StackTemplate


@pytest.mark.parametrize(("name", "kind"), [("raw_prices", "price"), ("raw_bars", "bar")])
def test_raw_tables_read_where_firehose_writes(name: str, kind: str) -> None:
    template = StackTemplate()
    table = template.table(name)
    assert [c.name for c in table.partition_keys] == [k for k in FIREHOSE_PARTITION_KEYS if k != "kind"]
    stream = template.delivery_stream().destination
    written = stream.prefix.replace("!{partitionKeyFromLambda:kind}", kind).split("!{", 1)[0]
    assert table.location == f"s3://{stream.bucket}/{written.rsplit('/', 1)[0]}/"


def test_partition_projection_templates_name_every_partition_column() -> None:
    for table in StackTemplate().tables():
        template = table.parameters["storage.location.template"]
        assert template.startswith(table.location)
        for column in table.partition_keys:
            assert f"{column.name}=${{{column.name}}}" in template
            assert f"projection.{column.name}.type" in table.parameters


def test_delivery_stream_partitions_by_the_transforms_event_time_keys() -> None:
    stream = StackTemplate().delivery_stream()
    assert stream.dynamic_partitioning
    for key in FIREHOSE_PARTITION_KEYS:
        assert f"{key}=!{{partitionKeyFromLambda:{key}}}" in stream.destination.prefix
    assert "!{firehose:error-output-type}" in stream.destination.error_prefix
    assert stream.processor is not None
    assert stream.processor.handler == "firehose_transform.handler.lambda_handler"
    assert stream.destination.buffer_size_bytes >= 64 * 1024 * 1024  # dynamic partitioning's minimum


def test_the_transform_window_is_a_stack_parameter() -> None:
    function = StackTemplate(parameters={"MaxPriceAgeSeconds": "86400"}).delivery_stream().processor
    assert function is not None
    assert function.environment["OHLCV_MAX_PRICE_AGE_S"] == "86400"
    assert function.environment["OHLCV_MAX_FUTURE_S"] == "300"


@pytest.mark.parametrize("overrides", [{"MaxPriceAgeSeconds": "1"}, {"LogRetentionDays": "3"}, {"Nope": "1"}])
def test_parameter_overrides_are_checked_as_cloudformation_would(overrides: dict[str, str]) -> None:
    from ohlcv_core.errors import ConfigError

    with pytest.raises(ConfigError):
        StackTemplate(parameters=overrides)


def test_compaction_job_reads_the_raw_table_and_writes_the_bars_table() -> None:
    template = StackTemplate()
    job = template.glue_job("CompactionJob")
    assert job.default_arguments["--raw_location"] == template.table("raw_prices").location
    assert job.default_arguments["--raw_bars_location"] == template.table("raw_bars").location
    for name in BAR_TABLES:
        assert template.table(name).location == f"{job.default_arguments['--curated_location']}{name}/"
    # publication relies on one writer at a time (ohlcv_core.curated)
    assert job.max_concurrent_runs == 1


@pytest.mark.parametrize("name", BAR_TABLES)
def test_bar_tables_read_the_manifests_the_job_publishes(name: str) -> None:
    template = StackTemplate()
    table = template.table(name)
    root = template.glue_job("CompactionJob").default_arguments["--curated_location"]
    assert table.symlink and table.format == "parquet"  # manifests naming Parquet files
    key, value = partition_of(name, "2023-08-24").split("=")
    partition = table.parameters["storage.location.template"].replace(f"${{{key}}}", value)
    assert manifest_url(root, name, partition_of(name, "2023-08-24")) == f"{partition}{MANIFEST_NAME}"


def test_the_raw_prefix_and_the_metrics_namespace_are_the_cores() -> None:
    from ohlcv_core.config import DEFAULT_METRICS_NAMESPACE
    from ohlcv_core.keys import RAW_PREFIX

    template = StackTemplate()
    assert template.delivery_stream().destination.prefix.startswith(RAW_PREFIX)
    (rule,) = [r for r in template.rules() if r.logical_id == "RawObjectCreatedRule"]
    assert rule.event_pattern is not None
    assert rule.event_pattern["detail"]["object"]["key"] == [{"prefix": RAW_PREFIX}]
    assert template.parameters["MetricsNamespace"] == DEFAULT_METRICS_NAMESPACE
    functions = template.lambda_functions()
    for function in functions:
        assert function.environment["POWERTOOLS_METRICS_NAMESPACE"] == DEFAULT_METRICS_NAMESPACE
        sharing = [f for f in functions if f.package == function.package]
        # a package's one function is its service; functions that share a package (the job triggers)
        # are told apart by theirs
        if len(sharing) == 1:
            assert function.environment["POWERTOOLS_SERVICE_NAME"] == function.package
    services = [f.environment["POWERTOOLS_SERVICE_NAME"] for f in functions]
    assert len(set(services)) == len(services)


def test_the_compaction_job_has_no_tuning_default_of_its_own() -> None:
    from glue_jobs.compact_bars import main

    tuning = StackTemplate().glue_job("CompactionJob").tuning_argv()
    assert {"--target_file_mb", "--row_group_mb", "--late_after_s", "--keep_superseded_s"} <= set(tuning[::2])
    locations = ["--raw_location", "/nowhere/", "--curated_location", "/nowhere/", "--dates", "2023-08-24"]
    for index in range(0, len(tuning), 2):
        without_one = tuning[:index] + tuning[index + 2:]
        with pytest.raises(ConfigError, match=tuning[index]):
            main([*locations, *without_one], spark=cast(Any, object()))  # refused before Spark is used


def test_the_stand_in_refuses_stream_settings_firehose_refuses(tmp_path: Path) -> None:
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    # zero buffering is the hot path's, which has no dynamic partitioning; the record path's cannot have it
    assert StackTemplate(parameters={"LivePath": "true"}).live_stream() is not None
    zero = tmp_path / "zero.yaml"
    zero.write_text(text.replace("IntervalInSeconds: 60\n", "IntervalInSeconds: 0\n", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="no zero buffering"):
        StackTemplate(zero).delivery_streams()
    small = tmp_path / "small.yaml"
    small.write_text(text.replace("SizeInMBs: 64\n", "SizeInMBs: 8\n", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="SizeInMBs of 64 at least"):
        StackTemplate(small).delivery_streams()
    processor = tmp_path / "processor.yaml"
    processor.write_text(text.replace('ParameterValue: "0.2"', 'ParameterValue: "0.1"', 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"BufferSizeInMBs must be 0\.2-3"):
        StackTemplate(processor).delivery_streams()
