"""Custom resource that creates the stack's Athena views (sql/views/) in its Glue database."""
