"""The producer image's promises, checked where no Docker engine runs (CI has none)."""

from __future__ import annotations

import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.utils import canonicalize_name

from tests.packages import imports_of, root_packages

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "producers" / "Dockerfile").read_text(encoding="utf-8")
DOCKERIGNORE = (ROOT / ".dockerignore").read_text(encoding="utf-8")


def test_slim_non_root_with_a_health_check_and_the_same_entry_point() -> None:
    assert re.search(r"^FROM python:3\.11-slim$", DOCKERFILE, re.M)
    user = re.search(r"^USER (\S+)$", DOCKERFILE, re.M)
    assert user and user.group(1) not in ("root", "0")
    assert 'CMD ["python", "-m", "producers.health"' in DOCKERFILE
    assert 'ENTRYPOINT ["python", "-m", "producers"]' in DOCKERFILE


def test_the_image_installs_the_producers_lock_and_resolves_nothing() -> None:
    assert "COPY locks/producers.txt ./locks/" in DOCKERFILE
    (install,) = re.findall(r"pip install[^\n&]*", DOCKERFILE)
    assert install.rstrip(" \\").split() == ["pip", "install", "--no-cache-dir", "--require-hashes", "--no-deps", "-r",
                               "locks/producers.txt"]


def test_the_image_has_every_module_the_producer_imports_and_its_context_nothing_more() -> None:
    """Copied: the packages the producer's code reaches (its import closure among the repository's
    packages), and the build context (.dockerignore, an allow-list) is exactly what is copied."""
    copied = set(re.findall(r"^COPY (\w+) \./", DOCKERFILE, re.M))
    reached, todo = set(), ["producers"]
    while todo:
        package = todo.pop()
        reached.add(package)
        for path in (ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            todo += [n.split(".")[0] for n in imports_of(path, module)
                     if n.split(".")[0] in root_packages() - reached - set(todo)]
    assert copied == reached == {"ohlcv_core", "producers"}
    allowed = {line.removeprefix("!") for line in DOCKERIGNORE.splitlines() if line.startswith("!")}
    assert "*" in DOCKERIGNORE.splitlines() and allowed == {*copied, "locks/producers.txt"}
    # and whatever else the copied code imports is the standard library's or a distribution of its lock
    locked = {canonicalize_name(line.split("==")[0]) for line in
              (ROOT / "locks" / "producers.txt").read_text(encoding="utf-8").splitlines() if "==" in line}
    distributions = packages_distributions()
    offenders = sorted({f"{path.relative_to(ROOT)}: {root}" for package in copied
                        for path in (ROOT / package).rglob("*.py")
                        for root in {n.split(".")[0] for n in imports_of(path, ".".join(
                            path.relative_to(ROOT).with_suffix("").parts), at_runtime=True)}
                        if root not in sys.stdlib_module_names and root not in copied | {"__future__"}
                        and not {canonicalize_name(d) for d in distributions.get(root, [])} & locked})
    assert offenders == []
