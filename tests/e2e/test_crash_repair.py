"""No hole after a crash: the producer SIGKILLed mid-stream while Firehose is down loses what it held in
memory; started again on the same spool, it repairs from the time it had kept everything through
(producers/kept.py) via REST. After compaction every minute of every symbol is there and equals the
published bar, as a run without the crash gives."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from chaos.feed import live_feed
from chaos.harness import ProducerProcess, StackService, producer_env, spooled_batches, wait_for
from local_stack.firehose.server import FirehoseFaults
from local_stack.net import free_port
from local_stack.stack import LocalFaults
from local_stack.twelvedata.server import TwelveDataStandIn, running_in_thread
from producers.kept import MARKER_NAME

SECONDS = 24  # of feed: within one minute, the kill inside it
NO_SCHEDULE = 0  # only the restart repairs: the schedule's repair would cover the minute too


def test_a_producer_killed_with_firehose_down_leaves_no_hole_after_its_restart(spark: Any, tmp_path: Path) -> None:
    end = int(time.time() + SECONDS) // 60 * 60
    feed = live_feed(end - SECONDS, SECONDS, per_second=3, seed=13)
    firehose_down = [True]
    service = StackService(tmp_path / "lake", lambda: spark, free_port(), lambda: LocalFaults(
        firehose=FirehoseFaults(throttle_rate=1.0 if firehose_down[0] else 0.0, partial_failure_rate=0.0, seed=1)),
        parameters={"QualityAfterCompaction": "false"})  # (what is judged here is the curated bars)
    stand_in = TwelveDataStandIn(feed.recording, speed=1.0, live=True, close_at_end=False, rest_up_to_now=True)
    spool = tmp_path / "spool"
    with running_in_thread(stand_in):
        stack = service.start()
        producer = ProducerProcess(
            ["--ws-url", stand_in.ws_url, "--rest-url", stand_in.rest_url, "--symbols",
             ",".join(feed.recording.header.symbols), "--stream", stack.stream_settings.name,
             "--firehose-endpoint", stack.firehose.url, "--spool-dir", str(spool), "--credits-per-minute", "60"],
            producer_env(NO_SCHEDULE), tmp_path)
        producer.start()
        feed_end = time.time() + SECONDS + 2  # the live timeline starts as the producer subscribes
        try:
            # GIVEN a producer that streams into a Firehose that throttles every call: it spools what it can
            assert wait_for(lambda: spooled_batches(spool) >= 2, 40)
            assert wait_for((spool / MARKER_NAME).exists, 15)  # written every few seconds
            time.sleep(2)
            producer.kill()  # WHEN it is SIGKILLed, with frames in its queue and calls in flight
            firehose_down[0] = False
            service.restart()
            time.sleep(max(0.0, feed_end + 2 - time.time()))  # the host is gone until the minute has ended
            producer.start()  # and started again on the same spool, Firehose back
            assert wait_for(lambda: spooled_batches(spool) == 0, 60)
            assert wait_for(lambda: "repaired from REST" in (tmp_path / "producer-02.log").read_text(), 30)
            producer.terminate(20)
        finally:
            if producer.alive():
                producer.kill()
        stack = service.stop()
    rows = stack.athena.query("SELECT symbol, bar_start, open, high, low, close, volume, source FROM bars_1m").rows
    curated = {(symbol, int(start.timestamp())): (o, h, low, c, v, source) for symbol, start, o, h, low, c, v, source
               in rows}
    # (the kill did take events: fewer reached the raw zone than the feed had)
    (raw_events,) = stack.athena.query("SELECT count(DISTINCT idempotency_key) FROM raw_prices").rows[0]
    assert raw_events < sum(bar["ticks"] for bars in feed.published.values() for bar in bars.values())
    # THEN every published minute of every symbol has its bar, equal to the published one
    for symbol, published in feed.published.items():
        first = min(published)
        for minute, bar in published.items():
            assert (symbol, minute) in curated, f"{symbol} {minute}: no bar"
            o, h, low, c, v, _ = curated[(symbol, minute)]
            assert (o, h, low, c) == (bar["open"], bar["high"], bar["low"], bar["close"]), f"{symbol} {minute}"
            if minute != first:  # the stream's first minute has no earlier day_volume to difference against
                assert v == bar["volume"], f"{symbol} {minute} volume"
        # AND the minute the kill interrupted is the REST bar the restart's repair fetched, final
        assert all(curated[(symbol, m)][5] == "rest" for m in published), symbol
