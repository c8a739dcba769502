"""`ohlcv serve-twelvedata --live`, as a user runs it: one timeline for every client, so a client that
reconnects resumes where the feed is now (market time), and at Ctrl-C the count of frames sent."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

from websockets.sync.client import connect

from local_stack.net import free_port


def _prices(url: str, count: int) -> list[int]:
    """The event timestamps of the first `count` AAPL prices a new connection gets."""
    seen: list[int] = []
    with connect(url, open_timeout=10) as socket:
        socket.send(json.dumps({"action": "subscribe", "params": {"symbols": "AAPL"}}))
        while len(seen) < count:
            frame = json.loads(socket.recv(timeout=10))
            if frame.get("event") == "price":
                seen.append(int(frame["timestamp"]))
    return seen


def test_a_reconnecting_client_resumes_in_market_time_and_the_frames_sent_are_reported() -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "ohlcv_cli", "serve-twelvedata", "--live", "--speed", "20",
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert "Twelve Data stand-in" in server.stdout.readline()
        url = f"ws://127.0.0.1:{port}/v1/quotes/price"
        first = _prices(url, 3)
        time.sleep(3.0)  # a minute of market time at 20x
        again = _prices(url, 1)
        # THEN the second connection starts where the feed is now, not at the recording's start
        assert again[0] - first[-1] >= 40
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=20)
    assert server.returncode == 0, err
    sent = re.search(r"served (\d+) frames over 2 connection\(s\)", out)
    assert sent is not None and int(sent.group(1)) >= 4, out
