"""The lake's query engine (docs/sql.md): Athena's SQL run with Athena's semantics on DuckDB over a lake's
folders, its catalog the template's tables and sql/views/. `ohlcv query`, the dashboards and the local
stack use it; it is no stand-in of its own, and reads the lake through anything that maps an s3:// URI
to a folder (`lake_sql.athena.Lake`)."""
