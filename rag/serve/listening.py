"""The server's listening socket, bound before anything slow.

`python -m rag serve` binds its address first, before the model loads or the
index is built: a port in use, a host that is no address of this machine or a
port that needs privileges is one `ServeError` line at once (the CLI prints
it and exits 2), not seconds later in uvicorn's words after a "serving…" line
that was never true. The socket is handed to uvicorn, which listens on it;
nothing else may take the port meanwhile.
"""

from __future__ import annotations

import errno
import socket

from rag.schema import ServeError

BACKLOG = 2048  # uvicorn's default
_HOST_FIX = "set --host or RAG_HOST to an address of this machine: 127.0.0.1 (this machine only) or 0.0.0.0 (every " \
            "interface)"


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host`:`port`, not yet listening (a client meanwhile is refused, not kept waiting)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as err:
        reason = err.strerror if isinstance(err, socket.gaierror) else "not a host name"
        raise ServeError(f"host {host!r} cannot be resolved ({reason}); {_HOST_FIX}") from None
    sock = socket.socket(family, kind, proto)
    # As uvicorn does: a server restarted at once may bind while the last one's connections linger in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as err:
        sock.close()
        raise ServeError(_why_not(host, port, err)) from None
    return sock


def listen(sock: socket.socket, host: str, port: int) -> None:
    """Start listening on a socket from `bind`. Another process may have bound the same port meanwhile (binding
    alone does not keep it out): the one that listens first has it, the other is told here."""
    try:
        sock.listen(BACKLOG)
    except OSError as err:
        sock.close()
        raise ServeError(_why_not(host, port, err)) from None


def url(host: str, port: int, root_path: str = "") -> str:
    """The address a browser opens, e.g. http://127.0.0.1:7860/ (an IPv6 host in brackets)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{root_path}/"


def _why_not(host: str, port: int, err: OSError) -> str:
    if err.errno == errno.EADDRINUSE:
        return (f"port {port} on {host} is in use (another server, perhaps `make run`?); stop it, or choose another "
                f"port with --port or RAG_PORT, e.g. RAG_PORT={port + 1 if port < 65535 else 7861}")
    if err.errno == errno.EADDRNOTAVAIL:
        return f"host {host!r} is no address of this machine; {_HOST_FIX}"
    if err.errno == errno.EACCES:
        return f"port {port} needs privileges this process lacks (ports below 1024 do); choose one from 1024 up " \
               "with --port or RAG_PORT"
    return f"cannot listen on {host} port {port} ({err.strerror}); {_HOST_FIX}, and --port or RAG_PORT to a free port"
