"""Bundled recordings and the seeded generator that made them."""

from __future__ import annotations

from pathlib import Path

FEEDS_DIR = Path(__file__).resolve().parent
DEMO_FEED = FEEDS_DIR / "demo-2023-08-24.tdrec.gz"
