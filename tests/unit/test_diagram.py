"""The architecture picture is the rendering of its text source (edit the .txt, run
`python -m stack_tools.diagram`), and a malformed source is one clear error."""

from __future__ import annotations

import pytest

from ohlcv_core.errors import ConfigError
from stack_tools.diagram import SOURCE, parse, render


def test_the_checked_in_picture_is_the_rendering_of_its_source() -> None:
    assert SOURCE.with_suffix(".svg").read_text(encoding="utf-8") == render(SOURCE.read_text(encoding="utf-8")), \
        "docs/assets/diagrams/architecture.svg is stale: run `python -m stack_tools.diagram`"


def test_the_picture_names_every_deployable_unit() -> None:
    nodes, edges = parse(SOURCE.read_text(encoding="utf-8"))
    labels = " ".join(" ".join(n.lines) for n in nodes.values())
    for unit in ("producer", "Firehose", "transform", "compaction", "quality", "Athena", "QuickSight", "dashboard"):
        assert unit in labels
    assert edges


@pytest.mark.parametrize(("source", "message"), [("node a 0 x A", "neither"),
                                                 ("node a 0 0 A\nedge a b", "does not declare")])
def test_a_malformed_source_is_one_clear_error(source: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(source)
