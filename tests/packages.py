"""The project's packages and their layers, as pyproject.toml declares them once (`tool.ohlcv.layers`)."""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

from stack_tools.lock import read_lock

ROOT = Path(__file__).resolve().parents[1]
LAYERS: dict[str, int] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ohlcv"]["layers"]
# What AWS runs (a Lambda bundle, a Glue script, the producer's image): the layer above the core.
DEPLOYABLE = frozenset(package for package, layer in LAYERS.items() if layer == 1)


def root_packages() -> set[str]:
    """Every package at the repository's root (a folder with an __init__.py), the tests' own but."""
    return {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests"}


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The import nodes under `if TYPE_CHECKING:`, which no interpreter runs."""
    return {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
            and "TYPE_CHECKING" in ast.unparse(node.test) for child in node.body for inner in ast.walk(child)}


def imports_of(path: Path, module: str, *, at_runtime: bool = False) -> Iterator[str]:
    """Every name a module imports (`module`, at `path`), lazy imports and relative ones included; with
    `at_runtime`, not those only a type checker reads."""
    package_parts = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree) if at_runtime else set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package_parts[: len(package_parts) - node.level + 1], *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def third_party_reached(packages: tuple[str, ...], start: str | None = None, *, at_runtime: bool = False) -> set[str]:
    """The top-level modules from outside the bundle that the unit's own package (the first), or the one
    module `start`, imports, directly or through the bundle's other modules it reaches; lazy imports count
    too (with `at_runtime`, not those only a type checker reads)."""
    modules = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
               for package in packages for path in (ROOT / package).rglob("*.py")}
    to_visit = [start] if start else [module for module in modules if module.split(".")[0] == packages[0]]
    seen: set[str] = set()
    outside: set[str] = set()
    while to_visit:
        module = to_visit.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in imports_of(modules[module], module, at_runtime=at_runtime):
            if name in modules:
                to_visit.append(name)
            elif name.split(".")[0] not in packages:
                outside.add(name.split(".")[0])
    return outside - set(sys.stdlib_module_names)


def locked_modules(lock: Path) -> set[str]:
    """The top-level modules of the distributions a unit's lock installs (as installed here, same versions)."""
    names = {pin.name for pin in read_lock(lock)}
    return {module for module, dists in metadata.packages_distributions().items()
            if names & {canonicalize_name(d) for d in dists}}
