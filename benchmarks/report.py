"""The shape every component benchmark returns, and how the runner prints it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    benchmark: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None  # the same metric for the baseline, measured in the same run
    target: str = ""
    meets_target: bool | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


def format_table(measurements: list[Measurement]) -> str:
    header = f"{'benchmark':<22} {'metric':<34} {'value':>14} {'baseline':>14} {'ratio':>7}  target"
    lines = [header, "-" * len(header)]
    for m in measurements:
        baseline = f"{m.baseline:,.1f}" if m.baseline is not None else "-"
        ratio = f"{m.ratio:.2f}" if m.ratio is not None else "-"
        verdict = "" if m.meets_target is None else ("  met" if m.meets_target else "  MISSED")
        lines.append(f"{m.benchmark:<22} {m.metric:<34} {m.value:>14,.1f} {baseline:>14} {ratio:>7}  "
                     f"{m.target}{verdict}")
    return "\n".join(lines)
