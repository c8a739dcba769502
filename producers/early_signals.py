"""A stop asked for while the process is still starting.

`python -m producers` spends about a second importing (boto3 most of it) before the service installs its
own handlers. A SIGTERM in that second (ECS stopping a task it has just started, a deploy replacing it)
would end the process by the signal's default action: exit 143, no log line, as if it had crashed. The
entry point holds SIGTERM and SIGINT from its first line instead; the service then starts, sees the
stop, and stops as any stop ends (exit 0). A runner with no handlers of its own gets the signal back.
"""

from __future__ import annotations

import signal
from types import FrameType

HELD = (signal.SIGTERM, signal.SIGINT)

_received: list[int] = []
_previous: dict[int, object] = {}


def _record(signum: int, frame: FrameType | None) -> None:
    if not _received:  # the first is the one acted on
        _received.append(signum)


def hold() -> None:
    """Record SIGTERM and SIGINT instead of acting on them, until the service takes them over."""
    for signum in HELD:
        _previous[signum] = signal.signal(signum, _record)


def received() -> int | None:
    return _received[0] if _received else None


def take_over() -> int | None:
    """The service has installed its own handlers: forget the held ones; the first signal held, if any."""
    _previous.clear()
    return received()


def release() -> None:
    """Give the signals their previous handlers back, and deliver one that was held (for a runner that
    handles no signal itself, so that it ends as it always did)."""
    for signum, previous in _previous.items():
        signal.signal(signum, previous)  # type: ignore[arg-type]  # what signal.signal returned for it
    _previous.clear()
    if _received:
        signal.raise_signal(_received[0])
