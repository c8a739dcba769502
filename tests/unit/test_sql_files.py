"""Every file in sql/ is Athena SQL; every named query declares its parameters, binds exactly them and
reads only the partitions it is asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from ohlcv_core.errors import ConfigError
from ohlcv_core.schema import YEAR_PARTITIONED
from stack_tools.queries import SQL_QUERIES, named_queries, placeholders, read_query
from stack_tools.template import StackTemplate

SQL = SQL_QUERIES.parent
FILES = sorted(SQL.rglob("*.sql"))
QUERIES = named_queries()


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(SQL).as_posix() for p in FILES])
def test_every_file_parses_as_athena_sql(path: Path) -> None:
    statements = [s for s in sqlglot.parse(path.read_text(encoding="utf-8"), read="athena") if s is not None]
    assert len(statements) == 1


def test_the_analyses_users_came_for_are_there() -> None:
    assert {"symbol_stats", "daily_stats", "average_daily_range", "daily_change", "daily_volume", "extreme_closes",
            "monthly_volume", "price_vs_volume", "price_volume_correlation", "symbol_summary",
            "intraday_candles"} <= set(QUERIES)


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_a_named_query_binds_its_parameters_and_filters_on_the_partition(name: str) -> None:
    query = QUERIES[name]
    assert placeholders(query.sql) == len(query.parameters)
    tree = sqlglot.parse_one(query.sql, read="athena")
    filtered = {c.name for where in tree.find_all(exp.Where) for c in where.find_all(exp.Column)}
    partitions = {t.name: {k.name for k in t.partition_keys} for t in StackTemplate().tables()}
    partitions |= {view.stem: {"dt"} for view in (SQL / "views").glob("*.sql")}  # the views keep dt
    # a table partitioned by year has few partitions (a year of 50 symbols' daily bars is one file of about
    # 1 MB): its day column is the filter, which the files' statistics answer
    partitions |= {table: {"dt"} for table in YEAR_PARTITIONED}
    for table in {t.name for t in tree.find_all(exp.Table)} & set(partitions):
        assert partitions[table] & filtered, f"{name} reads {table} without filtering on its partition"


def test_a_query_file_without_its_header_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "oops.sql"
    bad.write_text("SELECT 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="begins '-- oops: <what it answers>'"):
        read_query(bad)


@pytest.mark.parametrize(("values", "message"), [
    ({"symbols": "AAPL", "from": "2024-02-01", "to": "2024-01-01"}, "is after"),
    ({"symbols": "AAPL", "from": "2024-13-01", "to": "2024-01-01"}, "is not a day"),
    ({"symbols": "AAPL", "from": "1990-01-01", "to": "2024-01-01"}, "spans more than"),
    ({"symbols": "'; DROP", "from": "2024-01-01", "to": "2024-01-02"}, "give symbols such as"),
    ({"symbols": "AAPL"}, "needs --from --to"),
])
def test_bad_parameters_are_one_clear_error(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        QUERIES["daily_change"].bind(values)


def test_the_queries_workgroup_is_engine_3_encrypted_and_capped() -> None:
    template = StackTemplate()
    (workgroup,) = [r for r in template.body["Resources"].values() if r["Type"] == "AWS::Athena::WorkGroup"]
    settings = workgroup["Properties"]["WorkGroupConfiguration"]
    assert settings["EnforceWorkGroupConfiguration"] is True
    assert settings["EngineVersion"]["SelectedEngineVersion"] == "Athena engine version 3"
    assert settings["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"
    assert settings["BytesScannedCutoffPerQuery"] == {"Ref": "QueryBytesScannedCutoff"}
