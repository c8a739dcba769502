"""Layers run one way, as pyproject.toml declares them (`tool.ohlcv.layers`): the pure core <- deployable
units <- the stack's tooling (and the bundled recordings) <- the query engine <- the stand-ins <- the
dashboards <- the command line (and the benchmarks) <- the chaos suite. Every import of every module
counts, lazy ones included; no module import cycle anywhere; no package outside the declaration."""

from __future__ import annotations

from pathlib import Path

from tests.packages import DEPLOYABLE, LAYERS, ROOT, imports_of, root_packages


def _modules() -> dict[str, Path]:
    modules = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {module: {name for name in imports_of(path, module) if name in modules and name != module}
            for module, path in modules.items()}


def test_every_import_runs_down_the_layers() -> None:
    wrong = []
    for module, imported in _graph().items():
        source = module.split(".")[0]
        for name in imported:
            target = name.split(".")[0]
            if target == source:
                continue
            if LAYERS[target] >= LAYERS[source]:
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_the_stand_ins_and_tooling_import_no_deployable_unit() -> None:
    # a unit's handler or script is loaded by the name the template gives, never imported by the stack
    reached = {(m, n) for m, names in _graph().items() for n in names
               if m.split(".")[0] in ("local_stack", "stack_tools", "lake_sql", "dashboards")
               and n.split(".")[0] in DEPLOYABLE}
    assert reached == set()


def test_no_module_import_cycle() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for name in sorted(graph[module]):
            if state.get(name) == 1:
                cycles.append([*path[path.index(name):], name])
            elif name not in state:
                visit(name, [*path, name])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_every_package_of_the_repository_is_declared_with_its_layer() -> None:
    assert root_packages() == set(LAYERS)
