"""The stand-in's bounds on its clients, as `local_stack.bounded` sets them for our threaded servers: a
request (REST, or a WebSocket's opening handshake) whole within `request_s` (websockets' open timeout),
a client's connections and all connections capped (503 past them), one log line for each client that is
refused or hung up on. The server is asyncio: a connection costs no thread, so waiting ones starve no one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from websockets.asyncio.server import ServerConnection

from local_stack.bounded import ClientBounds

LOG = logging.getLogger(__name__)


class ClientCount:
    """Connections by client address, counted from the moment each is accepted."""

    def __init__(self, bounds: ClientBounds) -> None:
        self.bounds = bounds
        self.open: Counter[str] = Counter()
        self.refused = 0
        self.hung_up = 0
        self._refusing: set[str] = set()

    def over(self, client: str) -> bool:
        """Whether a request of `client`'s is past the caps (its own connection counted); says so once
        for each run of refusals of that client."""
        full = self.open[client] > self.bounds.per_client or self.open.total() > self.bounds.max_connections
        if not full:
            self._refusing.discard(client)
            return False
        self.refused += 1
        if client not in self._refusing:
            self._refusing.add(client)
            LOG.warning("client %s refused: it holds %d connections (at most %d a client, %d in all); answered 503 "
                        "until one is free", client, self.open[client], self.bounds.per_client,
                        self.bounds.max_connections)
        return True

    def connection_class(self) -> type[ServerConnection]:
        count = self

        class Counted(ServerConnection):
            """A connection that counts itself in and out, and says when it was hung up on for taking too
            long over its request."""

            client = "?"
            opened = 0.0

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                peer = transport.get_extra_info("peername")
                self.client = str(peer[0]) if isinstance(peer, tuple) else str(peer)
                self.opened = time.monotonic()
                count.open[self.client] += 1
                super().connection_made(transport)

            def connection_lost(self, exc: Exception | None) -> None:
                super().connection_lost(exc)
                count.open[self.client] -= 1
                if count.open[self.client] <= 0:
                    del count.open[self.client]
                if self.request is None and time.monotonic() - self.opened >= count.bounds.request_s:
                    count.hung_up += 1
                    LOG.warning("client %s sent no whole request within %.0f s: hung up", self.client,
                                count.bounds.request_s)

        return Counted
