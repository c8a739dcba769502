from __future__ import annotations

from pathlib import Path

import pytest

from ohlcv_core.errors import PipelineError
from producers.spool import Spool

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
    (tmp_path / "000000000002.batch").write_bytes(b"\x00\x00\x00\x09par")  # damaged afterwards: said, not skipped
    with pytest.raises(PipelineError, match="cut short"):
        list(Spool(tmp_path, ROOMY).batches())
