from __future__ import annotations

from pathlib import Path

import pytest

from ohlcv_core.errors import ConfigError
from producers.spool import Spool
from tests.disks import make_read_only, tmpfs

ROOMY = 1 << 30  # a bound no test here reaches

def test_batches_come_back_in_order_and_survive_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, ROOMY)
    for index in range(12):
        assert spool.put([f"r{index}-a".encode(), f"r{index}-b\n\x00".encode()])
    reopened = Spool(tmp_path, ROOMY)
    batches = list(reopened.batches())
    assert [records for _, records in batches] == [[f"r{i}-a".encode(), f"r{i}-b\n\x00".encode()] for i in range(12)]
    reopened.remove(batches[0][0])
    assert len(Spool(tmp_path, ROOMY)) == 11
    assert Spool(tmp_path, ROOMY).put([b"next"]) and list(Spool(tmp_path, ROOMY).batches())[-1][1] == [b"next"]


def test_the_bound_holds(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=100)
    assert spool.put([b"x" * 60])
    assert not spool.put([b"y" * 60])  # would pass the bound: refused, nothing written
    assert len(spool) == 1 and spool.size_bytes == 64


def test_a_half_written_batch_is_never_seen(tmp_path: Path) -> None:
    (tmp_path / "000000000001.tmp").write_bytes(b"\x00\x00\x00\x09par")  # a crash before the rename
    spool = Spool(tmp_path, ROOMY)
    assert list(spool.batches()) == [] and not list(tmp_path.glob("*.tmp"))

def test_a_damaged_batch_is_moved_aside_and_the_rest_drains(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path, ROOMY)
    assert spool.put([b"first"]) and spool.put([b"second", b"pack"], quotes=37) and spool.put([b"third"])
    second = sorted(tmp_path.glob("*.batch"))[1]
    second.write_bytes(b"\x00\x00\x00\x09par")  # damaged on disk
    reopened = Spool(tmp_path, ROOMY)
    assert [records for _, records in reopened.batches()] == [[b"first"], [b"third"]]
    assert reopened.quarantined == 1 and (tmp_path / "quarantine" / second.name).exists()
    # the batch's own name said how many quotes it packed: the loss is counted in quotes
    assert reopened.quotes_lost == 37 and "37 quotes lost" in caplog.text
    assert "cut short" in caplog.text and "quarantine" in caplog.text
    assert len(reopened) == 2 and reopened.size_bytes == sum(p.stat().st_size for p in tmp_path.glob("*.batch"))


def test_files_that_are_not_batches_are_left_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "notes.batch").write_text("mine")
    (tmp_path / "README").write_text("mine too")
    spool = Spool(tmp_path, ROOMY)
    assert spool.put([b"x"]) and [r for _, r in spool.batches()] == [[b"x"]]
    assert (tmp_path / "notes.batch").read_text() == "mine" and "not batches" in caplog.text


def test_a_folder_that_cannot_be_a_spool_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cannot be written"):
        Spool(tmp_path / "file" / "spool", ROOMY)


def test_a_full_disk_keeps_nothing_half_and_says_why(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "256k") as disk:
        # the write the disk refuses (no margin kept, so the disk itself says no) ...
        spool = Spool(disk / "spool", ROOMY, free_margin_bytes=0)
        kept = 0
        while spool.put([b"x" * 20_000]):
            kept += 1
        assert 0 < kept < 20 and spool.last_error is not None
        assert not list((disk / "spool").glob("*.tmp"))  # nothing half written
        assert [len(r) for _, r in spool.batches()] == [1] * kept  # every kept batch reads back whole
        # ... and the free-space check that refuses before writing (the default keeps a margin)
        guarded = Spool(disk / "other", ROOMY)
        assert not guarded.put([b"y"]) and "bytes free" in (guarded.last_error or "")


def test_a_read_only_disk_refuses_writes_keeps_what_it_has_and_is_refused_at_start(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "1m") as disk:
        spool = Spool(disk / "spool", ROOMY, free_margin_bytes=0)
        assert spool.put([b"before"])
        make_read_only(disk)
        assert not spool.put([b"after"]) and "refused the write" in (spool.last_error or "")
        assert [r for _, r in spool.batches()] == [[b"before"]]
        with pytest.raises(ConfigError, match="cannot be written"):
            Spool(disk / "spool", ROOMY)


def test_only_files_that_are_neither_batches_nor_the_producers_marker_are_called_strays(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from producers.kept import KeptThrough

    kept = KeptThrough(tmp_path)
    kept.note([1_692_888_600_000])
    kept.save()  # what every producer with a spool leaves beside its batches
    assert kept.path.exists()
    Spool(tmp_path, ROOMY)
    assert "not batches" not in caplog.text
    (tmp_path / "notes.txt").write_text("mine")
    Spool(tmp_path, ROOMY)
    assert "holds 1 files that are not batches; left alone: notes.txt" in caplog.text


def test_a_delivered_batch_on_a_disk_turned_read_only_is_passed_over_not_a_crash(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with tmpfs(tmp_path / "spool", "1m") as folder:
        spool = Spool(folder, ROOMY, free_margin_bytes=0)
        assert spool.put([b"first"]) and spool.put([b"second"])
        make_read_only(folder)  # WHEN the disk turns read-only mid-run
        (path, _), *_ = list(spool.batches())
        spool.remove(path)  # the first was delivered
        # THEN it is passed over (said once), the second is next, and the spool still counts right
        assert [records for _, records in spool.batches()] == [[b"second"]] and len(spool) == 1
        assert "was delivered but cannot be removed" in caplog.text


def test_a_batch_the_disk_cannot_read_on_a_read_only_disk_is_counted_and_passed_over(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with tmpfs(tmp_path / "disk", "1m") as folder:
        spool = Spool(folder, ROOMY, free_margin_bytes=0)
        assert spool.put([b"a"], quotes=12) and spool.put([b"b"], quotes=3)
        first = sorted(folder.glob("*.batch"))[0]
        first.unlink()
        first.mkdir()  # GIVEN a batch whose read fails (EISDIR: an I/O error of the disk's own)
        make_read_only(folder)  # AND a disk that will not let it be moved aside
        # WHEN the spool drains, twice
        drained = [records for _, records in spool.batches()] + [records for _, records in spool.batches()]
        # THEN the rest drains, the lost batch is counted in quotes once and said once, and no crash
        assert drained == [[b"b"], [b"b"]] and spool.quotes_lost == 12 and spool.quarantined == 1
        assert caplog.text.count("12 quotes lost") == 1 and "passed over" in caplog.text


def test_batches_named_before_their_names_carried_counts_still_drain(tmp_path: Path) -> None:
    spool = Spool(tmp_path, ROOMY)
    assert spool.put([b"new"])
    (tmp_path / "000000000000.batch").write_bytes(b"\x00\x00\x00\x03old")  # an older run's name
    reopened = Spool(tmp_path, ROOMY)
    assert [records for _, records in reopened.batches()] == [[b"old"], [b"new"]]
    assert reopened.put([b"next"]) and sorted(p.name for p in tmp_path.glob("*.batch"))[-1].startswith("000000000002-")
