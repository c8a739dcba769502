"""The architecture picture (docs/assets/diagrams/architecture.svg) rendered from its text source beside
it, with no tool outside this repository: `python -m stack_tools.diagram` writes it, a test holds the
picture equal to a fresh rendering.

The source: `node <id> <column> <row> <label>` (a `|` in the label breaks the line) and
`edge <from> <to> [label]`; `#` starts a comment."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from html import escape
from pathlib import Path

from ohlcv_core.errors import ConfigError

SOURCE = Path(__file__).resolve().parent.parent / "docs" / "assets" / "diagrams" / "architecture.txt"
WIDTH, HEIGHT, GAP_X, GAP_Y, MARGIN, LINE = 230, 54, 60, 40, 20, 15


@dataclass(frozen=True)
class Node:
    id: str
    column: int
    row: int
    lines: tuple[str, ...]

    @property
    def x(self) -> int:
        return MARGIN + self.column * (WIDTH + GAP_X)

    @property
    def y(self) -> int:
        return MARGIN + self.row * (HEIGHT + GAP_Y)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str


def parse(text: str) -> tuple[dict[str, Node], list[Edge]]:
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        kind, *rest = line.split()
        if kind == "node" and len(rest) >= 4 and rest[1].isdigit() and rest[2].isdigit():
            label = line.split(None, 4)[4]
            nodes[rest[0]] = Node(rest[0], int(rest[1]), int(rest[2]), tuple(label.split("|")))
        elif kind == "edge" and len(rest) >= 2:
            edges.append(Edge(rest[0], rest[1], " ".join(rest[2:])))
        else:
            raise ConfigError(f"diagram line {number}: {raw!r} is neither `node id col row label` nor `edge a b`")
    unknown = [e for e in edges if e.source not in nodes or e.target not in nodes]
    if unknown:
        raise ConfigError(f"diagram edges name nodes it does not declare: {unknown[0]}")
    return nodes, edges


def _anchor(node: Node, toward: Node) -> tuple[float, float]:
    """Where a line from this box toward another leaves it: the middle of the facing side."""
    if toward.row > node.row:
        return node.x + WIDTH / 2, node.y + HEIGHT
    if toward.row < node.row:
        return node.x + WIDTH / 2, node.y
    return (node.x + WIDTH, node.y + HEIGHT / 2) if toward.column > node.column else (node.x, node.y + HEIGHT / 2)


def render(text: str) -> str:
    nodes, edges = parse(text)
    width = MARGIN * 2 + (max(n.column for n in nodes.values()) + 1) * (WIDTH + GAP_X) - GAP_X
    height = MARGIN * 2 + (max(n.row for n in nodes.values()) + 1) * (HEIGHT + GAP_Y) - GAP_Y
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">'
           '<path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    for edge in edges:
        a, b = nodes[edge.source], nodes[edge.target]
        (x1, y1), (x2, y2) = _anchor(a, b), _anchor(b, a)
        out.append(f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="#555" stroke-width="1.4" '
                   'marker-end="url(#arrow)"/>')
        if edge.label:
            out.append(f'<text x="{(x1 + x2) / 2 + 4:g}" y="{(y1 + y2) / 2 + 4:g}" fill="#555" '
                       f'font-size="10">{escape(edge.label)}</text>')
    for node in nodes.values():
        out.append(f'<rect x="{node.x}" y="{node.y}" width="{WIDTH}" height="{HEIGHT}" rx="6" fill="#eef3fb" '
                   'stroke="#4575b4"/>')
        top = node.y + HEIGHT / 2 - (len(node.lines) - 1) * LINE / 2 + 4
        for i, line in enumerate(node.lines):
            out.append(f'<text x="{node.x + WIDTH / 2:g}" y="{top + i * LINE:g}" text-anchor="middle">'
                       f"{escape(line.strip())}</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    source = Path((argv or sys.argv[1:] or [str(SOURCE)])[0])
    target = source.with_suffix(".svg")
    target.write_text(render(source.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
