"""A user error prints one clear line and exits non-zero; a traceback is a bug. The commands run in this
process through `ohlcv_cli.main.main` (what `python -m ohlcv_cli` runs), their output captured as the
terminal would show it, warnings logged included: an exception that escapes is the traceback a user
would see, and fails the test. One test runs the entry point as its own process, as a person runs it."""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ohlcv_cli.main import main
from ohlcv_core.recording import Header, encode_recording

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


def _ohlcv(*args: str) -> Done:
    out, err = io.StringIO(), io.StringIO()
    logged = logging.StreamHandler(err)  # what main()'s logging.basicConfig would print on the terminal
    logged.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(logged)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse's usage errors
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        root.removeHandler(logged)
    return Done(code, out.getvalue(), err.getvalue())


def test_the_entry_point_as_its_own_process_prints_one_line_and_exits_2() -> None:
    done = subprocess.run([sys.executable, "-m", "ohlcv_cli", "local", "up", "--port", "70000"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    _one_clear_line(Done(done.returncode, done.stdout, done.stderr), "not a port number")


def _one_clear_line(done: Done, *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 or lines[0].startswith("usage:"), done.stderr
    for text in expected:
        assert text in lines[-1], done.stderr


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_local_up_on_a_busy_port_says_so_and_leaves_no_lake(tmp_path: Path, busy_port: int) -> None:
    done = _ohlcv("local", "up", "--lake", str(tmp_path / "lake"), "--port", str(busy_port))
    _one_clear_line(done, f"cannot serve on 127.0.0.1:{busy_port}", "in use")
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize(("parameter", "expected"), [
    ("ProducerDesiredCount=3", "ProducerDesiredCount"), ("NoSuchThing=1", "no parameter 'NoSuchThing'"),
    ("DailyTopUp", "is not Name=value")])
def test_local_up_refuses_a_bad_stack_parameter_before_making_a_lake(tmp_path: Path, parameter: str,
                                                                     expected: str) -> None:
    _one_clear_line(_ohlcv("local", "up", "--lake", str(tmp_path / "lake"), "--parameter", parameter), expected)
    assert not (tmp_path / "lake").exists()


def test_the_stand_in_on_a_busy_port_says_so(busy_port: int) -> None:
    _one_clear_line(_ohlcv("serve-twelvedata", "--port", str(busy_port)), f":{busy_port}", "in use")


def test_a_port_out_of_range_is_refused() -> None:
    _one_clear_line(_ohlcv("local", "up", "--port", "70000"), "not a port number")


def test_a_lake_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "lake").write_text("a file")
    _one_clear_line(_ohlcv("demo", "--lake", str(tmp_path / "lake")), "is a file")


def test_replay_of_what_is_not_a_recording_says_what(tmp_path: Path) -> None:
    _one_clear_line(_ohlcv("replay", str(tmp_path / "absent.tdrec.gz"), "--stream", "s"), "cannot read")
    _one_clear_line(_ohlcv("replay", str(tmp_path), "--stream", "s"), "cannot read")
    array_line = tmp_path / "array.tdrec.gz"
    array_line.write_bytes(gzip.compress(gzip.decompress(encode_recording(Header(("AAPL",)), [])) + b"[1, 2]\n"))
    _one_clear_line(_ohlcv("replay", str(array_line), "--stream", "s"), "line 2", "JSON object")


def test_a_spool_folder_under_a_file_is_refused_before_anything_streams(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    done = _ohlcv("produce", "--symbols", "AAPL", "--stream", "s", "--ws-url", "ws://127.0.0.1:9/",
                  "--spool-dir", str(tmp_path / "file" / "spool"), "--no-repair")
    _one_clear_line(done, "spool folder", "cannot be written")


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("--pack-kb", "4096", "OHLCV_PACK_KB must be a finite number at least 0 and at most 1000"),
    ("--linger-ms", "-5", "OHLCV_LINGER_MS must be a finite number at least 0 and at most 60000"),
])
def test_packing_and_linger_flags_are_checked_before_anything_streams(flag: str, value: str, expected: str) -> None:
    done = _ohlcv("produce", "--symbols", "AAPL", "--stream", "s", "--ws-url", "ws://127.0.0.1:9/", "--no-repair",
                  flag, value)
    _one_clear_line(done, expected)


def test_redrive_arguments_are_checked_before_anything_is_read(tmp_path: Path) -> None:
    _one_clear_line(_ohlcv("redrive", "--from", "yesterday", "--to", "2026-12-02T10"), "is not an hour")
    _one_clear_line(_ohlcv("redrive", "--from", "2026-12-02T10", "--to", "2026-12-02T09", "--lake", str(tmp_path)),
                    "--to must be after --from")
    _one_clear_line(_ohlcv("redrive", "--from", "2026-12-02T10", "--to", "2026-12-02T11", "--bucket", "s3://raw/"),
                    "--stream and --function")


@pytest.mark.parametrize(("span", "expected"), [
    (("2023-13-01", "2023-12-31"), "--from and --to are dates"),
    (("2023-08-25", "2023-08-24"), "--to 2023-08-24 is before --from 2023-08-25"),
    (("1990-01-01", "2023-08-24"), "split the range"),
])
def test_quality_with_a_bad_date_range_says_what_is_wrong(tmp_path: Path, span: tuple[str, str], expected: str) -> None:
    _one_clear_line(_ohlcv("quality", "--lake", str(tmp_path), "--from", span[0], "--to", span[1]), expected)


def test_quality_without_a_lake_says_how_to_get_one(tmp_path: Path) -> None:
    _one_clear_line(_ohlcv("quality", "--lake", str(tmp_path / "nowhere"), "--from", "2023-08-24", "--to",
                           "2023-08-24"), "holds no lake", "ohlcv demo")


def test_quality_with_a_malformed_ruleset_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "s3").mkdir()
    ruleset = tmp_path / "rules.dqdl"
    ruleset.write_text('Rules = [\n    # rule complete [flag]: every close\n    IsComplete "close",\n'
                       '    # rule short [flag]: symbols are long\n    ColumnLength "symbol" > 2\n]\n')
    done = _ohlcv("quality", "--lake", str(tmp_path), "--from", "2023-08-24", "--to", "2023-08-24",
                  "--ruleset", str(ruleset))
    _one_clear_line(done, "line 5", "ColumnLength")


def test_quality_with_a_bad_now_says_what_it_takes(tmp_path: Path) -> None:
    (tmp_path / "s3").mkdir()
    _one_clear_line(_ohlcv("quality", "--lake", str(tmp_path), "--from", "2023-08-24", "--to", "2023-08-24",
                           "--now", "yesterday"), "--now must be epoch seconds or an ISO time")


def test_dashboard_without_a_lake_or_on_a_busy_port_is_one_line(tmp_path: Path, busy_port: int) -> None:
    _one_clear_line(_ohlcv("dashboard", "--lake", str(tmp_path / "nowhere")), "no lake at", "make demo")
    (tmp_path / "lake" / "s3").mkdir(parents=True)
    _one_clear_line(_ohlcv("dashboard", "--lake", str(tmp_path / "lake"), "--port", str(busy_port)),
                    "ohlcv dashboard:")
    _one_clear_line(_ohlcv("dashboard", "--lake", str(tmp_path / "lake"), "--refresh-s", "0"), "--refresh-s")


@pytest.mark.parametrize(("args", "expected"), [
    (("cost", "--parameter", "CompactionIntervalSeconds=-5"), "CompactionIntervalSeconds"),
    (("cost", "--parameter", "Nope=1"), "no parameter 'Nope'"),
    (("cost", "--quotes-per-second", "-1"), "--quotes-per-second"),
    (("simulate", "--days", "0"), "--days must be 1 to 31"),
    (("simulate", "--parameter", "GlueExecutionClass=CHEAP"), "GlueExecutionClass"),
])
def test_cost_and_simulate_refuse_bad_input_in_one_line(args: tuple[str, ...], expected: str) -> None:
    _one_clear_line(_ohlcv(*args), expected)


@pytest.mark.parametrize("command", [["query", "SELECT count(*) FROM raw_prices"],  # (dashboard and quality:
                                     ["redrive", "--from", "2026-12-02T09", "--to", "2026-12-02T10"]])  # above)
def test_a_lake_that_is_not_there_is_a_mistyped_path_not_an_empty_lake(tmp_path: Path, command: list[str]) -> None:
    _one_clear_line(_ohlcv(*command, "--lake", str(tmp_path / "nonexistent" / "lake")), "no lake at ")
