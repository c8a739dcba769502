"""`ohlcv package`: the stack's artifacts, laid out as the artifact bucket holds them.

Every artifact is derived from the template, so adding a unit adds none here:
- each Lambda function with `Code.S3Key`: a zip of its handler's package and `ohlcv_core`, plus the
  PyPI distributions `<package>/requirements.txt` names, installed from the unit's lock (`locks/<package>.txt`:
  the closure, hashed, at the versions the tests ran; manylinux wheels for the function's runtime);
- each Glue job: its `ScriptLocation` (the file at the same path in this repository), every
  `--extra-py-files` zip, holding the script's package and `ohlcv_core`, and the requirements file its
  `--additional-python-modules` names, which is the package's lock (Glue's pip installs it).

`aws s3 sync dist/ s3://<ArtifactBucketName>/` puts each where the stack looks. Zips are reproducible:
sorted entries, fixed timestamps.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ohlcv_core.errors import ConfigError
from stack_tools.lock import LAMBDA_PLATFORM, REQUIREMENTS_FILE, pip_platforms, requirement_names, unit_lock
from stack_tools.template import StackTemplate

ROOT = Path(__file__).resolve().parent.parent
CORE = "ohlcv_core"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)
SHIPPED_SUFFIXES = (".py", ".dqdl")  # code, and the data files it reads from its package (the ruleset)


@dataclass(frozen=True)
class Bundle:
    """A zip: packages of this repository, and PyPI distributions for a Lambda runtime."""

    key: str
    packages: tuple[str, ...]
    requirements: tuple[str, ...] = ()  # distribution names; the closure and versions from `lock`
    python_version: str = ""  # the Lambda runtime's, for its compiled dependencies
    lock: str = ""  # the unit's lock, relative to the repository's root


@dataclass(frozen=True)
class Script:
    """A file shipped as it is (a Glue job's ScriptLocation, or the lock its pip installs)."""

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
    return requirement_names(root / package / REQUIREMENTS_FILE)


def _locked(package: str, root: Path) -> str:
    lock = unit_lock(package)
    if not (root / lock).is_file():
        raise ConfigError(f"{package} names distributions in {package}/{REQUIREMENTS_FILE} but {lock} is missing: "
                          "run `make lock`")
    return lock.as_posix()


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
        requirements = requirements_of(function.package, root)
        add(Bundle(function.code_key, tuple(sorted({function.package, CORE})), requirements,
                   function.runtime.removeprefix("python"), _locked(function.package, root) if requirements else ""))
    for job in template.glue_jobs():
        script_key = _key(job.script_location)
        add(Script(script_key, _module_path(script_key, root)))
        package = script_key.split("/", 1)[0]
        for url in job.extra_py_files:
            add(Bundle(_key(url), tuple(sorted({package, CORE}))))
        if job.python_modules:
            if not (job.python_modules.startswith("s3://") and job.python_modules.endswith(f"/{REQUIREMENTS_FILE}")):
                raise ConfigError(f"{job.logical_id}'s --additional-python-modules must name the {REQUIREMENTS_FILE} "
                                  f"`make package` builds from its lock, not {job.python_modules!r}")
            add(Script(_key(job.python_modules), root / _locked(package, root)))
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


def _dependencies(lock: str, python_version: str, root: Path, into: Path) -> None:
    """The lock's wheels for the Lambda runtime, each checked against its hash, nothing resolved."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(into), "--no-compile",
               *(a for tag in pip_platforms(LAMBDA_PLATFORM) for a in ("--platform", tag)), "--implementation", "cp",
               "--python-version", python_version, "--only-binary=:all:", "--require-hashes", "--no-deps",
               "-r", str(root / lock)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise ConfigError(f"pip could not fetch {lock}'s wheels for Lambda: {result.stderr.strip()[-500:]}")


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
            if artifact.lock and with_dependencies:
                _dependencies(artifact.lock, artifact.python_version, root, Path(folder))
                entries += [(p.relative_to(folder).as_posix(), p) for p in sorted(Path(folder).rglob("*"))
                            if p.is_file() and "__pycache__" not in p.parts]
            _write_zip(target, entries)
        built.append(target)
    return built
