"""`MilvusLink`: one connection to a Milvus server, with bounded waits and a reconnect after a loss.

Every call carries a timeout, so a server that is down or stuck costs a
request at most `call_timeout_s`, never a hang. Losing the server surfaces as
`StoreUnavailableError` (the API answers 503 with it); the next call after
`RECONNECT_EVERY_S` builds a fresh client, so serving resumes by itself when
Milvus is back. Calls in between fail at once instead of each waiting out a
connect timeout. A collection found released (Milvus Lite after a restart) is
loaded again and the call repeated once.

pymilvus logs a traceback for every failed call; the link says the same in
one line through `StoreUnavailableError`, so pymilvus's own log is kept to
errors it cannot report otherwise (critical).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import grpc
from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException, ParamError

from rag.config import MILVUS_LITE_PREFIX
from rag.schema import StoreUnavailableError

CONNECT_TIMEOUT_S = 3.0
CALL_TIMEOUT_S = 5.0
RECONNECT_EVERY_S = 1.0
COLLECTION_NOT_LOADED = 101  # Milvus's error code for a search or query on a released collection
CONNECT_FAILED = 2  # pymilvus's code when no channel to the server could be made

_log = logging.getLogger(__name__)


def client_uri(address: str) -> str:
    """The URI pymilvus takes: a Milvus Lite file loses its `milvus-lite:` prefix (pymilvus knows it by `.db`)."""
    return address.removeprefix(MILVUS_LITE_PREFIX)


class MilvusLink:
    """A thread-safe handle on one Milvus server; `call` runs one `MilvusClient` method on it."""

    def __init__(self, address: str, token: str = "", connect_timeout_s: float = CONNECT_TIMEOUT_S,
                 call_timeout_s: float = CALL_TIMEOUT_S) -> None:
        """Connects at once: a server that does not answer within `connect_timeout_s` raises StoreUnavailableError."""
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        self.address = address
        self._token = token
        self.connect_timeout_s = connect_timeout_s
        self.call_timeout_s = call_timeout_s
        self._lock = threading.Lock()
        self._failed_at = 0.0
        self._reason = ""
        try:
            self._client: MilvusClient | None = self._connect()
        except (MilvusException, grpc.RpcError) as err:
            raise StoreUnavailableError(
                f"cannot reach Milvus at {address} within {connect_timeout_s:g} s ({_reason(err)}); start it, or "
                "point RAG_VECTOR_STORE at a running server (or set it to 'faiss' for the index folder)") from None

    def call(self, method: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """`MilvusClient.<method>(*args, **kwargs)` within `timeout` (default `call_timeout_s`)."""
        timeout = self.call_timeout_s if timeout is None else timeout
        client = self._client_or_fail()
        try:
            return getattr(client, method)(*args, timeout=timeout, **kwargs)
        except ParamError:
            raise  # a wrong call is this program's bug, not the server's absence
        except (MilvusException, grpc.RpcError) as err:
            if getattr(err, "code", None) == COLLECTION_NOT_LOADED and "collection_name" in kwargs:
                return self._load_and_retry(client, method, args, kwargs, timeout)
            if not _connection_lost(err):
                raise StoreUnavailableError(f"Milvus at {self.address} refused a {method} ({_reason(err)})") from None
            self._lost(client, err)
            raise StoreUnavailableError(f"Milvus at {self.address} failed a {method} ({_reason(err)}); "
                                        "requests fail until it answers again") from None

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _connect(self) -> MilvusClient:
        # A dedicated channel: closing it after a loss leaves other links' channels alone.
        return MilvusClient(uri=client_uri(self.address), token=self._token, timeout=self.connect_timeout_s,
                            dedicated=True)

    def _client_or_fail(self) -> MilvusClient:
        with self._lock:
            if self._client is not None:
                return self._client
            if time.monotonic() - self._failed_at < RECONNECT_EVERY_S:
                raise StoreUnavailableError(f"Milvus at {self.address} is unreachable ({self._reason}); "
                                            f"retrying every {RECONNECT_EVERY_S:g} s")
            try:
                self._client = self._connect()
            except (MilvusException, grpc.RpcError) as err:
                self._failed_at, self._reason = time.monotonic(), _reason(err)
                raise StoreUnavailableError(f"Milvus at {self.address} is unreachable ({self._reason}); "
                                            f"retrying every {RECONNECT_EVERY_S:g} s") from None
            _log.warning("reconnected to Milvus at %s", self.address)
            return self._client

    def _lost(self, client: MilvusClient, err: Exception) -> None:
        with self._lock:
            if self._client is client:
                self._client = None
                self._failed_at, self._reason = time.monotonic(), _reason(err)
        try:
            client.close()
        except (MilvusException, grpc.RpcError):
            pass  # its channel is already broken; closing it is only tidying
        _log.warning("lost Milvus at %s: %s", self.address, _reason(err))

    def _load_and_retry(self, client: MilvusClient, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                        timeout: float) -> Any:
        try:
            client.load_collection(kwargs["collection_name"], timeout=timeout)
            return getattr(client, method)(*args, timeout=timeout, **kwargs)
        except (MilvusException, grpc.RpcError) as err:
            if _connection_lost(err):
                self._lost(client, err)
            raise StoreUnavailableError(f"Milvus at {self.address} cannot load {kwargs['collection_name']} "
                                        f"({_reason(err)}); requests fail until it can") from None


def _connection_lost(err: Exception) -> bool:
    """The server did not answer (refused, timed out), as opposed to answering with an error of its own."""
    return isinstance(err, grpc.RpcError) or not isinstance(err.code, int) or err.code == CONNECT_FAILED


def _reason(err: Exception) -> str:
    if isinstance(err, grpc.RpcError):
        text = f"{err.code().name}: {err.details()}"
    elif isinstance(err, MilvusException):
        text = f"code {err.code}: {err.message}"
    else:
        text = str(err)
    return text.split("\n")[0][:300]
