"""`ohlcv package`: the stack's artifacts, laid out as the artifact bucket holds them.

    dist/lambda/firehose_transform.zip   the transform Lambda: its package, ohlcv_core, its dependencies
    dist/lambda/compaction_trigger.zip   the trigger Lambda, likewise
    dist/glue_jobs/compact_bars.py       the Glue script (ScriptLocation)
    dist/glue_jobs/packages.zip          what it imports (--extra-py-files): glue_jobs and ohlcv_core

Keys come from the template (the code-key parameters' defaults, the job's ScriptLocation and
--extra-py-files), so `aws s3 sync dist/ s3://<ArtifactBucketName>/` puts each where the stack looks.
Zips are reproducible: sorted entries, fixed timestamps. Lambda dependencies are the manylinux wheels
for the functions' runtime, at the versions pyproject.toml allows.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from local_stack.template import StackTemplate
from ohlcv_core.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
FIXED_TIME = (2020, 1, 1, 0, 0, 0)
LAMBDA_PLATFORM = "manylinux2014_x86_64"  # the functions' Architectures default (x86_64)


@dataclass(frozen=True)
class Bundle:
    key: str
    packages: tuple[str, ...]
    requirements: tuple[str, ...] = ()  # distribution names; versions from pyproject.toml
    python_version: str = ""  # the Lambda runtime's, for its compiled dependencies


def _key(url: str) -> str:
    return urlparse(url).path.lstrip("/")


def bundles(template: StackTemplate) -> tuple[list[Bundle], str]:
    """The zips to build and the Glue script's key, as the template names them."""
    def function(logical_id: str, key_parameter: str, package: str, requirements: tuple[str, ...]) -> Bundle:
        runtime = template.lambda_function(logical_id).runtime
        if not runtime.startswith("python3."):
            raise ConfigError(f"{logical_id} runs {runtime}, not a Python 3 runtime")
        return Bundle(template.parameters[key_parameter], (package, "ohlcv_core"), requirements,
                      runtime.removeprefix("python"))

    job = template.glue_job("CompactionJob")
    return ([function("TransformFunction", "TransformCodeKey", "firehose_transform",
                      ("aws-lambda-powertools", "orjson", "tzdata")),
             function("TriggerFunction", "TriggerCodeKey", "compaction_trigger", ("orjson",)),
             Bundle(_key(job.default_arguments["--extra-py-files"]), ("glue_jobs", "ohlcv_core"))],
            _key(job.script_location))


def _shipped(package: str) -> list[Path]:
    """A package's modules, without caches or the benchmarks kept beside it."""
    folder = ROOT / package
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts and not p.name.startswith("bench_"))


def _write_zip(target: Path, entries: Iterable[tuple[str, Path]]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def pinned(names: Iterable[str], pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The requirement strings pyproject.toml gives for these distributions (one place for versions)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    declared = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    by_name = {re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0].lower(): r.split(";")[0].split("#")[0].strip()
               for r in declared}
    missing = [n for n in names if n.lower() not in by_name]
    if missing:
        raise ConfigError(f"pyproject.toml declares no {', '.join(missing)}")
    return [by_name[n.lower()] for n in names]


def _dependencies(requirements: tuple[str, ...], python_version: str, into: Path) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(into), "--no-compile",
               "--platform", LAMBDA_PLATFORM, "--implementation", "cp", "--python-version", python_version,
               "--only-binary=:all:", *pinned(requirements)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise ConfigError(f"pip could not fetch {', '.join(requirements)} for Lambda: {result.stderr.strip()[-500:]}")


def build(out: Path, *, with_dependencies: bool = True, template: StackTemplate | None = None) -> list[Path]:
    zips, script_key = bundles(template or StackTemplate())
    built = []
    for bundle in zips:
        entries = [(path.relative_to(ROOT).as_posix(), path) for package in bundle.packages
                   for path in _shipped(package)]
        with tempfile.TemporaryDirectory(prefix="ohlcv-deps-") as folder:
            if bundle.requirements and with_dependencies:
                _dependencies(bundle.requirements, bundle.python_version, Path(folder))
                entries += [(p.relative_to(folder).as_posix(), p) for p in sorted(Path(folder).rglob("*"))
                            if p.is_file() and "__pycache__" not in p.parts]
            _write_zip(out / bundle.key, entries)
        built.append(out / bundle.key)
    script = out / script_key
    script.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / script_key, script)  # the script's key is its path here (as the local Glue reads it)
    return [*built, script]
