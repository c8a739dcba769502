"""The demo says why it did not load the daily history it was asked for."""

from __future__ import annotations

from ohlcv_cli.demo import _history_skipped


def test_history_asked_for_and_not_loaded_is_explained() -> None:
    assert _history_skipped(False, "websocket", False) == ""
    assert "not installed" in _history_skipped(True, "websocket", False)
    assert "--via file" in _history_skipped(True, "file", False)
    assert _history_skipped(True, "websocket", True) == ""
