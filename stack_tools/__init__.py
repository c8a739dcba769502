"""The stack's tooling: the template read as the registry of units (`intrinsics`, `template`), the Glue
tables' Athena DDL rendered from it (`ddl`), and the artifacts it names, built (`package`)."""
