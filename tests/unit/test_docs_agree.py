"""Documented facts that must follow the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from ohlcv_core.errors import ReasonCode
from tests.packages import LAYERS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_reason_code_is_documented() -> None:
    text = (DOCS / "transform.md").read_text(encoding="utf-8")
    missing = [code for code in get_args(ReasonCode) if f"| `{code}` |" not in text]
    assert missing == []


def test_every_environment_variable_is_in_the_readme() -> None:
    from ohlcv_core import config

    text = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    assert [name for name in config.ALL_VARIABLES if f"`{name}`" not in text] == []


def test_every_fixture_file_names_its_source() -> None:
    fixtures = DOCS.parent / "tests" / "fixtures"
    sources = (fixtures / "SOURCES.md").read_text(encoding="utf-8")
    files = [p.name for p in fixtures.rglob("*.json")]
    assert files and [name for name in files if name not in sources] == []


# A path a docstring, comment or document cites: a docs page, or a module under one of our packages.
_CITED = re.compile(r"(?<![\w/.-])((?:" + "|".join(["docs", "sql", "cloudformation", "tests", *LAYERS])
                    + r")/[\w/.-]*\.(?:md|py|yaml|sql))")


def test_every_file_the_code_and_docs_cite_exists() -> None:
    root = DOCS.parent
    sources = [*root.glob("*.md"), *DOCS.glob("*.md")]
    for package in (*LAYERS, "tests"):
        sources += (root / package).rglob("*.py")
    missing = sorted({f"{path.relative_to(root)}: {cited}" for path in sources
                      for cited in _CITED.findall(path.read_text(encoding="utf-8"))
                      if "*" not in cited and not (root / cited).exists()})
    assert missing == []


def test_every_chaos_fault_is_documented() -> None:
    from chaos.plan import FAULT_KINDS

    text = (DOCS / "chaos.md").read_text(encoding="utf-8")
    assert [kind for kind in FAULT_KINDS if f"| `{kind}` |" not in text] == []


def test_every_quality_rule_is_documented_with_its_policy() -> None:
    from glue_jobs.evaluate import load_ruleset

    text = (DOCS / "quality.md").read_text(encoding="utf-8").split("\n## The rules\n")[1].split("\n## ")[0]
    rows = {line.split("|")[1].strip(" `"): line.split("|")[3].strip() for line in text.splitlines()
            if line.startswith("| `") and line.count("|") == 5}
    ruleset = load_ruleset()
    assert {r.name: f"{r.policy}{', blocking' if r.blocking else ''}" for r in ruleset.rules} == rows


def test_the_bounds_on_clients_are_documented_as_the_servers_keep_them() -> None:
    from local_stack.bounded import ClientBounds

    bounds = ClientBounds()
    text = (DOCS / "local-stack.md").read_text(encoding="utf-8").split("\n## Bounds on clients\n")[1].split("\n## ")[0]
    assert f"within {bounds.request_s:.0f} s" in text and f"after {bounds.request_s:.0f} s" in text
    assert f"at most {bounds.per_client} connections, all clients {bounds.max_connections}" in text
