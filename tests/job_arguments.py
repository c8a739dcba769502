"""A Glue job's tuning arguments as the template's DefaultArguments give them (Glue merges them into every
run), for tests that call a job's `main()` directly."""

from __future__ import annotations

from stack_tools.template import StackTemplate


def template_defaults(job: str = "CompactionJob") -> list[str]:
    return StackTemplate().glue_job(job).tuning_argv()
