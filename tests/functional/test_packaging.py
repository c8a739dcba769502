"""The artifacts `ohlcv package` builds are what the stack deploys, and the Glue job runs from them alone."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from glue_jobs.compact_bars import main
from stack_tools.lock import GLUE_RUNTIME, LAMBDA_RUNTIME, read_lock
from stack_tools.package import Bundle, Script, artifacts, build
from stack_tools.template import StackTemplate
from tests.curated import published_tables
from tests.functional.test_compaction_job import T0, _record, _write_raw
from tests.job_arguments import template_defaults
from tests.packages import ROOT, locked_modules, third_party_reached


def test_the_artifacts_are_where_the_template_looks_and_build_the_same_twice(tmp_path: Path) -> None:
    first = build(tmp_path / "one", with_dependencies=False)
    second = build(tmp_path / "two", with_dependencies=False)
    template = StackTemplate()
    jobs = template.glue_jobs()
    keys = sorted(p.relative_to(tmp_path / "one").as_posix() for p in first)
    assert keys == sorted({template.parameters["TransformCodeKey"], template.parameters["TriggerCodeKey"],
                           template.parameters["ViewsCodeKey"],
                           *(job.script_location.split("/", 3)[3] for job in jobs),
                           *(job.default_arguments["--extra-py-files"].split("/", 3)[3] for job in jobs),
                           *(job.python_modules.split("/", 3)[3] for job in jobs)})
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]  # reproducible
    names = {p.name: zipfile.ZipFile(p).namelist() for p in first if p.suffix == ".zip"}
    transform = names["firehose_transform.zip"]
    assert "firehose_transform/handler.py" in transform and "ohlcv_core/normalize.py" in transform
    assert not any("__pycache__" in n for n in transform)
    assert "glue_jobs/publish.py" in names["packages.zip"] and "ohlcv_core/curated.py" in names["packages.zip"]
    assert "glue_jobs/ruleset.dqdl" in names["packages.zip"]  # the quality job reads it from its package
    assert "athena_views/handler.py" in names["athena_views.zip"]
    # the quality job's pip installs the glue_jobs lock, as it is, from beside the scripts
    assert (tmp_path / "one" / "glue_jobs" / "requirements.txt").read_bytes() == (
        ROOT / "locks" / "glue_jobs.txt").read_bytes()


def test_lambda_dependencies_are_the_units_own_and_come_from_its_lock() -> None:
    zips = {a.key: a for a in artifacts(StackTemplate()) if isinstance(a, Bundle) and a.python_version}
    assert {key: (b.python_version, b.requirements, b.lock) for key, b in zips.items()} == {
        "lambda/firehose_transform.zip": ("3.11", ("aws-lambda-powertools", "msgspec", "orjson", "tzdata"),
                                          "locks/firehose_transform.txt"),
        "lambda/job_trigger.zip": ("3.11", ("aws-lambda-powertools", "orjson"), "locks/job_trigger.txt"),
        "lambda/athena_views.zip": ("3.11", (), "")}  # boto3 is in the runtime; it needs nothing else
    for bundle in zips.values():  # the lock is the closure of what the unit names
        if bundle.lock:
            locked = {p.name for p in read_lock(ROOT / bundle.lock)}
            assert {canonicalize_name(n) for n in bundle.requirements} <= locked


def test_each_lambda_bundle_ships_every_distribution_its_codeimports_of() -> None:
    bundles = [a for a in artifacts(StackTemplate()) if isinstance(a, Bundle) and a.python_version]
    reached = {bundle.key: third_party_reached(bundle.packages) for bundle in bundles}
    assert {"msgspec", "orjson", "aws_lambda_powertools"} <= reached["lambda/firehose_transform.zip"]
    assert "msgspec" not in reached["lambda/job_trigger.zip"]  # the walk follows imports, not the whole core
    for bundle in bundles:
        shipped = (locked_modules(ROOT / bundle.lock) if bundle.lock else set()) | LAMBDA_RUNTIME
        assert reached[bundle.key] - shipped == set(), f"{bundle.key} does not ship what its code imports"


def test_each_glue_job_installs_every_distribution_its_scriptimports_of() -> None:
    """Glue provides Spark and boto3; every other import of a job's script, through the packages zip,
    is installed by the requirements file its --additional-python-modules names."""
    shipped = {a.key: a for a in artifacts(StackTemplate()) if isinstance(a, Script)}
    reached = {}
    for job in StackTemplate().glue_jobs():
        script = job.script_location.split("/", 3)[3]
        imported = third_party_reached(("glue_jobs", "ohlcv_core"), script.removesuffix(".py").replace("/", "."))
        modules = job.python_modules.split("/", 3)[3] if job.python_modules else None
        installed = locked_modules(shipped[modules].source) if modules else set()
        reached[job.logical_id] = imported - GLUE_RUNTIME
        assert reached[job.logical_id] - installed == set(), f"{job.logical_id} runs without what it imports"
    assert {"exchange_calendars", "sqlglot"} <= reached["QualityJob"]  # the walk finds what the job needs


def test_the_glue_job_runs_as_glue_runs_it_from_the_packaged_script_and_zip_alone(
        spark: Any, tmp_path: Path) -> None:
    # GIVEN the packaged script and its zip, and a day of raw events
    dist = tmp_path / "dist"
    build(dist, with_dependencies=False)
    raw = tmp_path / "raw"
    _write_raw(raw, "14", "a", [_record("AAPL", T0 + s, 100 + s % 5, 1_000 + s) for s in range(0, 300, 7)])
    arguments = [*template_defaults(), "--raw_location", f"{raw}/", "--dates", "2023-08-24"]
    # WHEN Glue's way runs it: the script as __main__, the zip on the path, Glue's own arguments among ours,
    # and nothing of this checkout importable (-S: no site hooks, so not the editable install either)
    site = sysconfig.get_paths()["purelib"]  # pyspark, py4j, boto3: what Glue's runtime provides
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYSPARK"))}
    env |= {"PYTHONPATH": os.pathsep.join([str(dist / "glue_jobs" / "packages.zip"), site]),
            "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_SUBMIT_ARGS": "--master local[1] --conf spark.ui.enabled=false pyspark-shell"}
    glue = ["--JOB_NAME", "compact", "--JOB_ID", "j_1", "--JOB_RUN_ID", "jr_packaged", "--job-bookmark-option",
            "job-bookmark-disable", "--TempDir", f"{tmp_path}/temp", "--enable-metrics", "true"]
    done = subprocess.run([sys.executable, "-S", str(dist / "glue_jobs" / "compact_bars.py"), *glue, *arguments,
                           "--curated_location", f"{tmp_path / 'packaged'}/"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    # THEN its tables equal those of the same job run here
    main([*arguments, "--curated_location", f"{tmp_path / 'here'}/"], spark=spark)
    assert published_tables(tmp_path / "packaged") == published_tables(tmp_path / "here")
    assert published_tables(tmp_path / "here")["bars_1m"]
