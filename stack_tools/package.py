"""`ohlcv package`: the stack's artifacts, laid out as the artifact bucket holds them.

Every artifact is derived from the template, so adding a unit adds none here:
- each Lambda function with `Code.S3Key`: a zip of its handler's package and `ohlcv_core`, plus the
  PyPI distributions listed in `<package>/requirements.txt` (names only; versions from pyproject.toml,
  manylinux wheels for the function's runtime);
- each Glue job: its `ScriptLocation` (the file at the same path in this repository) and every
  `--extra-py-files` zip, holding the script's package and `ohlcv_core`.

`aws s3 sync dist/ s3://<ArtifactBucketName>/` puts each where the stack looks. Zips are reproducible:
sorted entries, fixed timestamps.
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

from ohlcv_core.errors import ConfigError
from stack_tools.template import StackTemplate

ROOT = Path(__file__).resolve().parent.parent
CORE = "ohlcv_core"
REQUIREMENTS_FILE = "requirements.txt"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)
SHIPPED_SUFFIXES = (".py", ".dqdl")  # code, and the data files it reads from its package (the ruleset)
LAMBDA_PLATFORM = "manylinux2014_x86_64"  # the functions' Architectures default (x86_64)


@dataclass(frozen=True)
class Bundle:
    """A zip: packages of this repository, and PyPI distributions for a Lambda runtime."""

    key: str
    packages: tuple[str, ...]
    requirements: tuple[str, ...] = ()  # distribution names; versions from pyproject.toml
    python_version: str = ""  # the Lambda runtime's, for its compiled dependencies


@dataclass(frozen=True)
class Script:
    """A file shipped as it is (a Glue job's ScriptLocation)."""

    key: str
    source: Path


Artifact = Bundle | Script


def _key(url: str) -> str:
    return urlparse(url).path.lstrip("/")


def _module_path(key: str, root: Path) -> Path:
    source = root / key
    if not source.is_file():
        raise ConfigError(f"the template names {key}, which is not a file of this repository")
    return source


def requirements_of(package: str, root: Path = ROOT) -> tuple[str, ...]:
    path = root / package / REQUIREMENTS_FILE
    if not path.exists():
        return ()
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line)


def artifacts(template: StackTemplate, root: Path = ROOT) -> list[Artifact]:
    """Every artifact the template's units name, once each (two units naming one key must agree)."""
    found: dict[str, Artifact] = {}

    def add(artifact: Artifact) -> None:
        if found.setdefault(artifact.key, artifact) != artifact:
            raise ConfigError(f"two units name {artifact.key} with different contents: "
                              f"{found[artifact.key]} and {artifact}")

    for function in template.lambda_functions():
        if function.code_key is None:
            continue
        if not function.runtime.startswith("python3."):
            raise ConfigError(f"{function.logical_id} runs {function.runtime}, not a Python 3 runtime")
        if not (root / function.package).is_dir():
            raise ConfigError(f"{function.logical_id}'s handler {function.handler} names no package of this repository")
        add(Bundle(function.code_key, tuple(sorted({function.package, CORE})), requirements_of(function.package, root),
                   function.runtime.removeprefix("python")))
    for job in template.glue_jobs():
        script_key = _key(job.script_location)
        add(Script(script_key, _module_path(script_key, root)))
        package = script_key.split("/", 1)[0]
        for url in job.extra_py_files:
            add(Bundle(_key(url), tuple(sorted({package, CORE}))))
    return sorted(found.values(), key=lambda a: a.key)


def _shipped(package: str, root: Path) -> list[Path]:
    folder = root / package
    return sorted(p for p in folder.rglob("*") if p.suffix in SHIPPED_SUFFIXES and "__pycache__" not in p.parts)


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


def build(out: Path, *, with_dependencies: bool = True, template: StackTemplate | None = None,
          root: Path = ROOT) -> list[Path]:
    built = []
    for artifact in artifacts(template or StackTemplate(), root):
        target = out / artifact.key
        if isinstance(artifact, Script):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(artifact.source, target)
            built.append(target)
            continue
        entries = [(path.relative_to(root).as_posix(), path) for package in artifact.packages
                   for path in _shipped(package, root)]
        with tempfile.TemporaryDirectory(prefix="ohlcv-deps-") as folder:
            if artifact.requirements and with_dependencies:
                _dependencies(artifact.requirements, artifact.python_version, Path(folder))
                entries += [(p.relative_to(folder).as_posix(), p) for p in sorted(Path(folder).rglob("*"))
                            if p.is_file() and "__pycache__" not in p.parts]
            _write_zip(target, entries)
        built.append(target)
    return built
