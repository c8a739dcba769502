"""The locks hold the ranges pyproject.toml states, every dependency and import of the code, and the
deployable units' versions are the tested ones (`docs/dependencies.md`)."""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stack_tools.lock import (
    GLUE_RUNTIME,
    LOCKS,
    PROJECT_LOCK,
    Pin,
    all_locks,
    declared,
    disagreements,
    outside_ranges,
    pinned_versions,
    read_lock,
    unit_locks,
    unpinned_dependencies,
)
from tests.packages import LAYERS, ROOT, imports_of

PROJECT = read_lock(PROJECT_LOCK)
TEST_DATA = read_lock(LOCKS / "test-data.txt")  # installed without dependencies: for their data files
OUR_PACKAGES = (*LAYERS, "tests")


def _installed_requires() -> dict[str, list[str]]:
    return {canonicalize_name(d.metadata["Name"]): list(d.requires or []) for d in metadata.distributions()}


def test_the_project_lock_pins_every_declared_requirement_within_its_range() -> None:
    assert outside_ranges(PROJECT, declared()) == []


def test_a_pin_outside_its_range_or_missing_is_named() -> None:
    boto3 = next(p for p in PROJECT if p.name == "boto3")
    assert outside_ranges(PROJECT, [Requirement("boto3>=99")]) == [f"boto3>=99: the lock pins boto3=={boto3.version}"]
    without = [p for p in PROJECT if p.name != "boto3"]
    assert outside_ranges(without, [Requirement("boto3>=1.34,<2")]) == ["boto3<2,>=1.34 is not in the lock"]


def test_every_dependency_of_every_declared_requirement_is_pinned() -> None:
    assert unpinned_dependencies(PROJECT, declared(), _installed_requires()) == []


def test_a_pin_removed_from_the_lock_is_named_with_what_needs_it() -> None:
    # jmespath is nobody's declared requirement: only the walk through boto3's and botocore's metadata finds it
    without = [p for p in PROJECT if p.name != "jmespath"]
    (missing,) = unpinned_dependencies(without, declared(), _installed_requires())
    assert missing in ("jmespath, needed by boto3", "jmespath, needed by botocore")
    extra_only = [p for p in PROJECT if p.name != "flask-cors"]  # moto[server] alone asks for it
    assert unpinned_dependencies(extra_only, declared(), _installed_requires()) == ["flask-cors, needed by moto"]


def _third_partyimports_of() -> dict[str, str]:
    """top-level module -> the first file of ours that imports it, for modules neither ours nor stdlib."""
    found: dict[str, str] = {}
    for package in OUR_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            for name in imports_of(path, module):
                top = name.split(".")[0]
                if top not in OUR_PACKAGES and top not in sys.stdlib_module_names:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _declared_with_their_extras() -> set[str]:
    """pyproject.toml's distributions, and those its requirements' extras ask for (boto3-stubs[s3])."""
    requires = _installed_requires()
    names: set[str] = set()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        names.add(name)
        for text in requires.get(name, []):
            child = Requirement(text)
            if child.marker and any(child.marker.evaluate({"extra": e}) for e in requirement.extras):
                names.add(canonicalize_name(child.name))
    return names


def test_every_distribution_the_code_imports_is_declared_and_locked() -> None:
    """Imported modules come from declared distributions (not one that another happens to bring), all
    locked; Glue's own libraries, imported only where the job runs on Glue, are the exception."""
    by_module = metadata.packages_distributions()
    direct = _declared_with_their_extras()
    locked = set(pinned_versions(PROJECT)) | set(pinned_versions(TEST_DATA))
    problems = []
    for module, where in sorted(_third_partyimports_of().items()):
        names = {canonicalize_name(n) for n in by_module.get(module, [])}
        if module in GLUE_RUNTIME and not names:
            continue
        if not names:
            problems.append(f"{module} ({where}) is installed by no distribution")
        elif not names & direct:
            problems.append(f"{module} ({where}) comes from {sorted(names)}, which pyproject.toml does not declare")
        elif not names & locked:
            problems.append(f"{module} ({where}) comes from {sorted(names)}, which no lock pins")
    assert problems == []


def test_the_environment_is_the_lock() -> None:
    """`make` installed exactly the locks: every distribution here at its locked version, nothing else."""
    expected = pinned_versions(PROJECT) | pinned_versions(TEST_DATA)
    installed = {str(canonicalize_name(d.metadata["Name"])): d.version for d in metadata.distributions()}
    installed.pop("ohlcv-engine")  # this checkout, editable
    installed.pop("pip")  # the venv's own installer
    assert {n: v for n, v in installed.items() if expected.get(n) != v} == {}
    assert set(expected) - set(installed) == set()


def test_every_deployable_units_lock_takes_the_project_locks_versions() -> None:
    units = unit_locks()
    assert {spec.path.name for spec in units} == {"producers.txt", "firehose_transform.txt", "job_trigger.txt",
                                                  "glue_jobs.txt"}
    for spec in units:
        assert disagreements(read_lock(ROOT / spec.path), PROJECT) == [], spec.path


def test_a_unit_pin_that_is_not_the_project_locks_is_named() -> None:
    assert disagreements([Pin("orjson", "0.1", None)], PROJECT) == [
        f"orjson==0.1 (the project lock has {sorted({p.version for p in PROJECT if p.name == 'orjson'})})"]


def test_every_lock_is_written_by_make_lock_and_every_pin_is_hashed() -> None:
    written = {ROOT / spec.path for spec in all_locks()}
    assert written == set(LOCKS.glob("*.txt")) - {LOCKS / "hold-back.txt"}
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# This file was autogenerated by uv via the following command:\n#    make lock\n")
        pins = re.findall(r"^\S.*==.*$", text, re.M)
        hashed = re.findall(r"^\S.*==.*\\\n    --hash=sha256:[0-9a-f]{64}", text, re.M)
        assert pins and len(hashed) == len(pins), path.name


def test_the_hold_backs_each_give_a_reason() -> None:
    lines = (LOCKS / "hold-back.txt").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            Requirement(line)
            assert lines[i - 1].startswith("#"), f"{line} has no reason above it"


def test_the_makefile_installs_only_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    installs = re.findall(r"^\t.*pip install[^\n]*|^PIP_LOCKED.*", makefile, re.M)
    assert installs, "the Makefile installs nothing"
    for line in installs:
        assert "--require-hashes --no-deps -r" in line or "--no-deps --no-build-isolation --editable ." in line, line
    assert all(Path(ROOT, lock).is_file() for lock in re.findall(r"\$\(PIP_LOCKED\) (\S+)", makefile))
