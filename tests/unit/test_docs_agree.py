"""Documented facts that must follow the code."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from ohlcv_core.errors import ReasonCode

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
