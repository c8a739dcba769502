"""The stand-in's bounds on its clients, as `local_stack.bounded` sets them for our threaded servers: a
request (REST, or a WebSocket's opening handshake) whole within `request_s` (websockets' open timeout),
a client's connections and all connections capped (`Admission`: 503 past them), one log line for each
client that is refused or hung up on. The server is asyncio: a connection costs no thread, so waiting
ones starve no one.
"""

from __future__ import annotations

import asyncio
import logging
import time

from websockets.asyncio.server import ServerConnection

from local_stack.bounded import Admission, ClientBounds

LOG = logging.getLogger(__name__)


class ClientCount:
    """Each connection admitted (or refused) as it is accepted, and counted out as it ends."""

    def __init__(self, bounds: ClientBounds) -> None:
        self.bounds = bounds
        self.admission = Admission(bounds)
        self.refused: set[ServerConnection] = set()  # open, but past the caps when accepted: answered 503
        self.hung_up = 0

    def connection_class(self) -> type[ServerConnection]:
        count = self

        class Counted(ServerConnection):
            """A connection admitted or refused when accepted (a refused one is answered 503 once its
            request is read), counted out when it ends, and said when it was hung up on for taking too
            long over its request."""

            client = "?"
            opened = 0.0

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                peer = transport.get_extra_info("peername")
                self.client = str(peer[0]) if isinstance(peer, tuple) else str(peer)
                self.opened = time.monotonic()
                if not count.admission.admit(self.client):
                    count.refused.add(self)
                super().connection_made(transport)

            def connection_lost(self, exc: Exception | None) -> None:
                super().connection_lost(exc)
                if self in count.refused:
                    count.refused.discard(self)
                else:
                    count.admission.release(self.client)
                if self.request is None and time.monotonic() - self.opened >= count.bounds.request_s:
                    count.hung_up += 1
                    LOG.warning("client %s sent no whole request within %.0f s: hung up", self.client,
                                count.bounds.request_s)

        return Counted
