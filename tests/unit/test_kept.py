"""The kept-through marker: what a restarted producer repairs from."""

from __future__ import annotations

from pathlib import Path

from producers.kept import IN_FLIGHT_MARGIN_MS, MARKER_NAME, KeptThrough


def test_a_first_start_has_nothing_to_repair_and_the_kept_time_only_moves_forward(tmp_path: Path) -> None:
    kept = KeptThrough(tmp_path)
    assert kept.load() is None and kept.repair_from_ms() is None
    kept.note([1_000, 5_000])
    kept.note([3_000])  # a batch confirmed out of order does not move it back
    kept.save()
    again = KeptThrough(tmp_path)
    assert again.load() == 5_000 and again.repair_from_ms() == 5_000 - IN_FLIGHT_MARGIN_MS
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER_NAME]  # no partial file left


def test_an_unreadable_marker_means_no_repair_rather_than_a_crash(tmp_path: Path) -> None:
    (tmp_path / MARKER_NAME).write_text("{half")
    assert KeptThrough(tmp_path).load() is None


def test_a_disk_that_refuses_the_marker_is_not_fatal(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    kept = KeptThrough(folder)  # its folder does not exist: every write fails
    kept.note([42])
    kept.save()
    assert kept.load() is None
