"""Stock Gradio made safe for a wiki: security headers on every response, refused routes, a cap on every body.

Everything a page may load comes from this server (Content-Security-Policy),
`frame-ancestors` lets only the configured wiki frame /embed/, Gradio's
upload and file routes are refused outright (no file inputs here, so its
file-path surface stays closed), and no request body may exceed its cap:
the chat's queue gets more room, as it posts the whole conversation. Bodies
are counted as they arrive, never trusted to their declared length, and one
that is not all there within `request_timeout_s` is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from rag.config import Settings
from rag.serve.api.asgi import ASGIApp, Receive, Scope, Send, header, replay, route_path, send_json

# The chat posts the whole conversation (answers as HTML, sources included)
# with every question, so its queue gets more room than the API's small bodies.
CHAT_BODY_BYTES = 4 * 1024 * 1024
_CHAT_JOIN = "/gradio_api/queue/join"
# Gradio's upload and file routes and its monitoring page, refused by their prefixes below each chat's mount:
# words anywhere in a path would also refuse the pages of a wiki named "howto/uploads" or "monitoring/alerts".
_MOUNTS = ("/embed", "")
_REFUSED = ("/gradio_api/upload", "/upload", "/gradio_api/file=", "/file=", "/gradio_api/file/", "/monitoring",
            "/gradio_api/monitoring")
# Gradio's frontend needs inline scripts and styles; the source view needs neither.
_PAGE_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
             "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
             "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
             "form-action 'self'")
_SOURCE_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'"


def framing_line(settings: Settings) -> str:
    """Which pages may frame /embed/ (`frame-ancestors`), as the server says at start-up: a wiki not named here
    shows the browser's grey error frame, and says why only in its console."""
    ancestors = settings.frame_ancestors
    others = [origin for origin in ancestors if origin != "'self'"]
    if others:
        where = ("this server's own pages and " if "'self'" in ancestors else "") + "pages of " + ", ".join(others)
        return f"the chat may be embedded (/embed/, /widget.js) in {where} (RAG_FRAME_ANCESTORS)"
    where = "this server's own pages only" if ancestors else "no page at all"
    return (f"the chat may be embedded (/embed/, /widget.js) in {where} (RAG_FRAME_ANCESTORS); to embed it in a "
            "wiki, start the server with the wiki's origin added, e.g. RAG_FRAME_ANCESTORS=\"'self',https://wiki.example\"")


def too_large(limit: int, settings: Settings) -> dict[str, str]:
    # A huge question usually lands here before its length can be checked: name that limit too.
    return {"error": f"the request body is over the {limit}-byte limit (setting max_body_bytes, RAG_MAX_BODY_BYTES); "
                     f"a question may have at most {settings.max_question_chars} characters "
                     "(setting max_question_chars)", "field": "body"}


def refused_route(path: str) -> bool:
    """Whether `path` (below the root path) is one of Gradio's upload, file or monitoring routes."""
    mount = next(m for m in _MOUNTS if path.startswith(m + "/") or not m)
    rest = path[len(mount):]
    return rest.startswith(_REFUSED)


# Said with `Connection: close`: the rest of a refused body is never read, so the connection cannot go on.
_CLOSE = ((b"connection", b"close"),)
_BOTH_LENGTHS = {"error": "the request has both Content-Length and Transfer-Encoding, which disagree on where the "
                          "body ends; send only one of them", "field": "body"}


class Guard:
    """Security headers on every response, refused Gradio routes, a cap on request bodies."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        ancestors = " ".join(settings.frame_ancestors) or "'none'"
        self.embed_csp = f"{_PAGE_CSP}; frame-ancestors {ancestors}"
        self.page_csp = f"{_PAGE_CSP}; frame-ancestors 'self'"
        self.source_csp = f"{_SOURCE_CSP}; frame-ancestors 'self'"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if refused_route(path):
            await send_json(send, 404, {"error": "not served here: this server accepts no uploads and serves no files "
                                                 "through Gradio"})
            return
        limit = CHAT_BODY_BYTES if path.endswith(_CHAT_JOIN) else self.settings.max_body_bytes
        declared = header(scope, b"content-length")
        if declared is not None and header(scope, b"transfer-encoding") is not None:
            # Request smuggling's shape: h11 follows Transfer-Encoding, so a small Content-Length let a body of
            # any size through to be read whole.
            await send_json(send, 400, _BOTH_LENGTHS, _CLOSE)
            return
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await send_json(send, 413, too_large(limit, self.settings), _CLOSE)
            return
        # The body is read here, counted as it arrives whatever the headers said, and handed on whole: an error
        # raised while an app reads it would be answered by that app (Gradio's in its own words, or as a 400).
        body = await self._body(receive, send, limit)
        if body is None:
            return
        receive = replay(body, receive)
        csp = (self.source_csp if path.startswith("/source/")
               else self.embed_csp if path == "/embed" or path.startswith("/embed/") else self.page_csp)

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"same-origin")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _body(self, receive: Receive, send: Send, limit: int) -> bytes | None:
        """The whole body, or None once the request is answered: over `limit` (413), not all there within
        `request_timeout_s` (408), or the client gone."""
        timeout = self.settings.request_timeout_s
        deadline = asyncio.get_running_loop().time() + timeout
        body = bytearray()
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                await send_json(send, 408, {"error": f"the request body did not arrive within {timeout} s (setting "
                                                     "request_timeout_s, RAG_REQUEST_TIMEOUT_S); send it whole",
                                            "field": "body"}, _CLOSE)
                return None
            if message["type"] != "http.request":
                return None  # the client went away
            body += message.get("body", b"")
            if len(body) > limit:
                await send_json(send, 413, too_large(limit, self.settings), _CLOSE)
                return None
            if not message.get("more_body", False):
                return bytes(body)
