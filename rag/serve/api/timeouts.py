"""How long the server waits on a client: uvicorn's settings, and a deadline for a request's headers.

uvicorn closes an idle kept-alive connection after `timeout_keep_alive`, but
has no deadline for a request itself: a client sending its headers a byte at
a time, or never finishing them, held its connection open for good. Here the
request line and headers must arrive within `Settings.request_timeout_s` of
the connection opening (or of the previous response); the body then has as
long again (`rag.serve.api.guard`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from rag.config import Settings

KEEP_ALIVE_S = 5  # uvicorn's default, stated: an idle connection between requests is closed after this


class _HeadersDeadline(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request headers are late."""

    timeout_s: float = 15.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._awaited_cycle = self.cycle
        self._deadline = self.loop.call_later(self.timeout_s, self._too_late)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not self._awaited_cycle:  # a request's headers are in: its body has the guard's deadline
            self._deadline.cancel()

    def on_response_complete(self) -> None:
        finished = self.cycle
        super().on_response_complete()
        # The next request on this connection has as long, unless it was already in (pipelined).
        if not self.transport.is_closing() and self.cycle is finished:
            self._deadline.cancel()
            self._awaited_cycle = self.cycle
            self._deadline = self.loop.call_later(self.timeout_s, self._too_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.cancel()
        super().connection_lost(exc)

    def _too_late(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The `uvicorn.run`/`uvicorn.Config` options for these settings' timeouts."""
    protocol = type("HeadersDeadline", (_HeadersDeadline,), {"timeout_s": float(settings.request_timeout_s)})
    return {"http": protocol, "timeout_keep_alive": KEEP_ALIVE_S}
