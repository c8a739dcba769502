"""Scenario recordings and their golden outputs, with a loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent


def scenario_names() -> list[str]:
    return sorted(p.name.removesuffix(".golden.json") for p in HERE.glob("*.golden.json"))


def recording_path(name: str) -> Path:
    return HERE / f"{name}.tdrec.gz"


def golden(name: str) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads((HERE / f"{name}.golden.json").read_bytes())
    return result
