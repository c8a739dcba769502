"""The producer image's promises, checked where no Docker engine runs (CI has none)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.packages import locked_modules, third_party_reached

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
    """Copied: ohlcv_core and producers. What the producer's code reaches beyond them at run time is the
    standard library or what its lock installs (a package of the repository it reached would be neither),
    and the build context (.dockerignore, an allow-list) is exactly what is copied."""
    copied = set(re.findall(r"^COPY (\w+) \./", DOCKERFILE, re.M))
    assert copied == {"ohlcv_core", "producers"}
    outside = third_party_reached(("producers", "ohlcv_core"), at_runtime=True)
    assert outside - locked_modules(ROOT / "locks" / "producers.txt") == set()
    allowed = {line.removeprefix("!") for line in DOCKERIGNORE.splitlines() if line.startswith("!")}
    assert "*" in DOCKERIGNORE.splitlines() and allowed == {*copied, "locks/producers.txt"}
