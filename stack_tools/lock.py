"""The locks: the exact versions, transitive included and hashed, that every install of the project takes.

`make lock` (`python -m stack_tools.lock`) resolves them on purpose, with uv, and writes `locks/`:

- `project.txt`: what `make demo`, `make test`, `make bench` and `make chaos` install: pyproject.toml's
  dependencies, its `stack` and `dev` extras and its build backend, for every platform and Python version
  the project accepts, under the constraints of `hold-back.txt` (each with its reason).
- one lock per deployable unit that installs packages, for the platform it runs on and constrained to
  `project.txt`'s versions, so what is deployed is what was tested: `producers.txt` (the image: the base
  dependencies), each Lambda bundle's (`<package>/requirements.txt` names its distributions; the template
  gives its runtime) and the Glue jobs' (`glue_jobs/requirements.txt`, for Glue's Python and glibc).
- the tools' venvs: `checkov.txt`, `uv.txt` (the locking tool itself), `test-data.txt` (installed for
  data files only, without dependencies).

Installs never resolve: `pip install --require-hashes --no-deps -r <lock>`. pyproject.toml keeps its
ranges for people who install the package into an environment of their own; `tests/unit/test_locks.py`
holds the locks to those ranges and to the imports of the code.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ohlcv_core.errors import ConfigError
from stack_tools.template import StackTemplate

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "locks"
PROJECT_LOCK = LOCKS / "project.txt"
HOLD_BACK = LOCKS / "hold-back.txt"
REQUIREMENTS_FILE = "requirements.txt"
PYTHON = "3.11"  # the oldest the project accepts, as Glue 5 and the Lambda runtime run it

# Where each kind of unit runs: the Python and the platform tag uv resolves wheels for.
LAMBDA_PLATFORM = "x86_64-manylinux_2_17"  # manylinux2014: the functions' Architectures default (x86_64)
GLUE_RUNTIMES = {"5.0": ("3.11", "x86_64-manylinux_2_34")}  # Glue 5.0: Amazon Linux 2023, glibc 2.34
# The top-level modules the runtimes already hold, so a unit's lock does not ship them: Lambda's Python
# runtimes carry boto3; Glue's carries Spark, boto3 and its own libraries (awsglue, Glue Data Quality's).
LAMBDA_RUNTIME = frozenset({"boto3", "botocore"})
GLUE_RUNTIME = frozenset({"pyspark", "py4j", "boto3", "botocore", "awsglue", "awsgluedq"})


def pip_platforms(platform: str) -> list[str]:
    """uv's platform (`x86_64-manylinux_2_17`) as pip's `--platform` tags: pip takes the tags it is given
    as they are, so each older glibc a manylinux wheel may be built for is named too."""
    arch, tag = platform.split("-", 1)
    newest = int(tag.removeprefix("manylinux_2_"))
    return [f"manylinux_2_{minor}_{arch}" for minor in range(newest, 4, -1)]


@dataclass(frozen=True)
class Pin:
    name: str  # canonical
    version: str
    marker: Marker | None

    def applies(self, environment: Mapping[str, str] | None = None) -> bool:
        return self.marker is None or self.marker.evaluate(dict(environment) if environment else None)


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def read_lock(path: Path) -> list[Pin]:
    """The pins of a lock file as uv writes it (`name==version [; marker] \\` then hash lines)."""
    pins = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line[0] in " #-\t":
            continue
        match = _PIN.match(line)
        if not match:
            raise ConfigError(f"{path.name}: not a pinned requirement: {line!r}")
        name, version, marker = match.groups()
        pins.append(Pin(canonicalize_name(name), version, Marker(marker) if marker else None))
    return pins


def pinned_versions(pins: Iterable[Pin], environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """name -> version for the pins that apply on this (or the given) environment."""
    return {p.name: p.version for p in pins if p.applies(environment)}


def _pyproject(root: Path = ROOT) -> dict[str, object]:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))


def declared(root: Path = ROOT) -> list[Requirement]:
    """Every requirement pyproject.toml states: dependencies, every extra, the build backend."""
    data = _pyproject(root)
    project = data["project"]
    assert isinstance(project, dict)
    build = data["build-system"]
    assert isinstance(build, dict)
    texts = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra),
             *build["requires"]]
    return [Requirement(text) for text in texts]


def outside_ranges(pins: Sequence[Pin], requirements: Iterable[Requirement]) -> list[str]:
    """Each declared requirement the lock leaves out or pins outside its range, in one line each."""
    problems = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        found = [p for p in pins if p.name == name]
        if not found:
            problems.append(f"{requirement} is not in the lock")
        problems += [f"{requirement}: the lock pins {p.name}=={p.version}" for p in found
                     if not requirement.specifier.contains(p.version, prereleases=True)]
    return problems


def unpinned_dependencies(pins: Sequence[Pin], roots: Iterable[Requirement],
                          requires: Mapping[str, Sequence[str]]) -> list[str]:
    """The distributions the roots need on this environment, through every dependency and requested
    extra, that the lock does not pin. `requires` maps a distribution to its Requires-Dist lines
    (importlib.metadata's, for the installed ones); one the lock pins but nothing describes is itself
    reported, since its dependencies cannot be followed."""
    versions = pinned_versions(pins)
    missing: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    to_visit = [(r, "pyproject.toml") for r in roots]
    while to_visit:
        requirement, wanted_by = to_visit.pop()
        name = canonicalize_name(requirement.name)
        for extra in sorted(requirement.extras) or [""]:
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            if name not in versions:
                missing.setdefault(name, wanted_by)
                continue
            if name not in requires:
                missing.setdefault(name, f"{wanted_by} (its metadata was not found)")
                continue
            for text in requires[name]:
                child = Requirement(text)
                if child.marker is None or child.marker.evaluate({"extra": extra}):
                    to_visit.append((child, name))
    return [f"{name}, needed by {by}" for name, by in sorted(missing.items())]


def disagreements(unit_pins: Iterable[Pin], project_pins: Sequence[Pin]) -> list[str]:
    """A unit's pins that are not the project lock's version of the same distribution."""
    project_versions: dict[str, set[str]] = {}
    for pin in project_pins:
        project_versions.setdefault(pin.name, set()).add(pin.version)
    return [f"{p.name}=={p.version} (the project lock has {sorted(project_versions.get(p.name, ())) or 'none'})"
            for p in unit_pins if p.version not in project_versions.get(p.name, set())]


def requirement_names(path: Path) -> tuple[str, ...]:
    """The distribution names a unit's requirements file lists (names only; versions come from the lock)."""
    if not path.exists():
        return ()
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line)


# -- resolving (make lock) ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LockSpec:
    """One lock: where it is written, what it resolves, and for which Python and platform."""

    path: Path
    inputs: tuple[str, ...]  # files uv reads (requirements files, or pyproject.toml)
    python: str = PYTHON
    platform: str | None = None  # None: every platform (a universal lock)
    extras: tuple[str, ...] = ()
    constraints: tuple[Path, ...] = ()
    no_deps: bool = False
    stdin_requirements: tuple[str, ...] = ()  # given on standard input (the build backend's)

    def command(self, uv: str) -> list[str]:
        """uv's command, run from the repository's root: relative paths keep the lock's notes portable."""
        inputs = [*self.inputs, *(["-"] if self.stdin_requirements else [])]
        command = [uv, "pip", "compile", *inputs, "--generate-hashes", "--python-version", self.python,
                   "--custom-compile-command", "make lock", "--quiet", "-o", str(self.path)]
        command += ["--python-platform", self.platform] if self.platform else ["--universal"]
        command += [f"--extra={e}" for e in self.extras]
        command += [a for c in self.constraints for a in ("-c", str(c))]
        return command + (["--no-deps"] if self.no_deps else [])


def unit_lock(package: str) -> Path:
    """Where a deployable unit's lock is, relative to the repository's root."""
    return LOCKS.relative_to(ROOT) / f"{package}.txt"


def unit_locks(root: Path = ROOT) -> list[LockSpec]:
    """A lock for each deployable unit that ships packages, from the template: its runtime and platform."""
    template = StackTemplate()
    constraints = (PROJECT_LOCK.relative_to(ROOT),)
    specs = [LockSpec(unit_lock("producers"), ("pyproject.toml",), constraints=constraints)]
    for function in template.lambda_functions():
        names = Path(function.package) / REQUIREMENTS_FILE
        if function.code_key and requirement_names(root / names):
            specs.append(LockSpec(unit_lock(function.package), (str(names),),
                                  python=function.runtime.removeprefix("python"), platform=LAMBDA_PLATFORM,
                                  constraints=constraints))
    for job in template.glue_jobs():
        package = job.script_location.split("/")[3]
        names = Path(package) / REQUIREMENTS_FILE
        if requirement_names(root / names):
            if job.glue_version not in GLUE_RUNTIMES:
                raise ConfigError(f"{job.logical_id} runs Glue {job.glue_version}, whose Python and glibc are "
                                  f"not known here ({', '.join(GLUE_RUNTIMES)})")
            python, platform = GLUE_RUNTIMES[job.glue_version]
            specs.append(LockSpec(unit_lock(package), (str(names),), python=python,
                                  platform=platform, constraints=constraints))
    return list({spec.path: spec for spec in specs}.values())


def all_locks(root: Path = ROOT) -> list[LockSpec]:
    build = _pyproject(root)["build-system"]
    assert isinstance(build, dict)
    locks = LOCKS.relative_to(ROOT)
    return [
        LockSpec(PROJECT_LOCK.relative_to(ROOT), ("pyproject.toml",), extras=("stack", "dev"),
                 constraints=(HOLD_BACK.relative_to(ROOT),), stdin_requirements=tuple(build["requires"])),
        LockSpec(locks / "test-data.txt", ("tools/test-data-requirements.txt",), no_deps=True),
        LockSpec(locks / "checkov.txt", ("tools/checkov-requirements.txt",)),
        LockSpec(locks / "uv.txt", ("tools/uv-requirements.txt",)),
        *unit_locks(root),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack_tools.lock", description=__doc__.split("\n\n")[0])
    parser.add_argument("--uv", default="uv", help="the uv executable (make lock installs it from locks/uv.txt)")
    parser.add_argument("--upgrade-package", action="append", default=[], metavar="NAME",
                        help="take the newest version of NAME the ranges allow (default: keep every pin)")
    parser.add_argument("--upgrade", action="store_true", help="take the newest version of everything")
    options = parser.parse_args(argv)
    for spec in all_locks():
        command = spec.command(options.uv)
        command += ["--upgrade"] if options.upgrade else []
        command += [a for name in options.upgrade_package for a in ("--upgrade-package", name)]
        print(f"locking {spec.path}", flush=True)
        done = subprocess.run(command, cwd=ROOT, input="\n".join(spec.stdin_requirements) + "\n",
                              capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            print(f"{spec.path}: uv failed: {done.stderr.strip()[-2000:]}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
