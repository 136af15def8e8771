"""Gradio's programmatic routes behind the API token, and its queue calls checked before Gradio sees them.

The token. With `Settings.api_token` set, every route of Gradio's API
(`/gradio_api/…` and `/config`, under `/` and under `/embed`) needs either
`Authorization: Bearer <token>` or the chat page's session cookie; the
`/ask` endpoint, which only programs call, needs the token itself. The
cookie is what keeps the chat working in a browser: serving the chat page
sets it (`HttpOnly`, `SameSite=Strict`, the whole server's path), and the
page's own calls carry it back. Its value is a keyed hash of the token, so
it holds nothing of the token, changes when the token does, and is the same
on every server sharing the token. It proves only that the page was loaded,
which anyone may do: the chat is as open as its page. What the token closes
is the API (`gradio_client`, scripts); a program that wants the chat's answers
uses `/api/ask` or `/ask` with the token.

The queue. Gradio answers a call naming no event of the chat (`fn_index`
99), sending the wrong number of values, or reading a session that never
joined with a 500 or a stream that breaks, and writes some 200 lines of
traceback to the log each time. Each is checked here against the chat's own
`Blocks` first, and refused with a 4xx saying what is wrong and one log line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import gradio as gr

from rag.config import Settings
from rag.printable import printable
from rag.serve.api.asgi import ASGIApp, Receive, Scope, Send, header, replay, route_path, send_json

log = logging.getLogger("rag.serve.api")

COOKIE = "rag_chat"
_JOIN = "/gradio_api/queue/join"
_DATA = "/gradio_api/queue/data"
_CALL = re.compile(r"/gradio_api/call/(?:v2/)?(?P<name>[^/]+)/?(?:/(?P<event>[^/]+))?")
_NEEDS_TOKEN = {"error": "missing or wrong API token: send the header 'Authorization: Bearer <token>'",
                "field": None}
_SESSION_CHARS = 128  # the browser's session hashes are 11 characters; a client's own ids, a UUID at most


def session_cookie(token: str) -> str:
    return hmac.new(token.encode(), b"rag chat page session", hashlib.sha256).hexdigest()


class GradioGate:
    """The token on Gradio's routes and the checks on its queue, for the chats mounted at `chats`' paths."""

    def __init__(self, app: ASGIApp, settings: Settings, chats: Mapping[str, gr.Blocks]) -> None:
        self.app = app
        self.token = settings.api_token
        self.cookie = session_cookie(settings.api_token) if settings.api_token else ""
        self.cookie_path = (settings.root_path or "") + "/"
        # The longest mount first: "/embed" before "/", which takes every path.
        self.chats = sorted(chats.items(), key=lambda item: -len(item[0]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        mount, blocks = next((m, b) for m, b in self.chats if not m or path == m or path.startswith(m + "/"))
        rest = path[len(mount):]
        if rest in ("/", "") and self.token:
            await self.app(scope, receive, self._setting_cookie(send))
            return
        if not (rest.startswith("/gradio_api/") or rest.rstrip("/") == "/config"):
            await self.app(scope, receive, send)
            return
        bearer = self._bearer(scope)
        if self.token and not (bearer or self._has_cookie(scope)):
            await self._refuse(send, scope, 401, _NEEDS_TOKEN)
            return
        method = scope["method"]
        if method == "POST" and rest == _JOIN:
            body = await _whole_body(receive)
            receive = replay(body, receive)
            problem = _join_problem(blocks, body)
            if problem is None and self.token and not bearer and _is_api(blocks, body):
                problem = (401, _NEEDS_TOKEN)
        elif method == "GET" and rest == _DATA:
            problem = _data_problem(blocks, scope)
        elif call := _CALL.fullmatch(rest):
            problem = _call_problem(blocks, call["name"], call["event"])
            if problem is None and self.token and not bearer:
                problem = (401, _NEEDS_TOKEN)
        else:
            problem = None
        if problem is not None:
            await self._refuse(send, scope, *problem)
            return
        await self.app(scope, receive, send)

    def _bearer(self, scope: Scope) -> bool:
        given = header(scope, b"authorization") or ""
        scheme, _, credentials = given.partition(" ")
        return bool(self.token) and scheme.lower() == "bearer" and \
            hmac.compare_digest(credentials.strip().encode(), self.token.encode())

    def _has_cookie(self, scope: Scope) -> bool:
        for part in (header(scope, b"cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and hmac.compare_digest(value.encode(), self.cookie.encode()):
                return True
        return False

    def _setting_cookie(self, send: Send) -> Send:
        cookie = f"{COOKIE}={self.cookie}; Path={self.cookie_path}; HttpOnly; SameSite=Strict".encode()

        async def sending(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        return sending

    @staticmethod
    async def _refuse(send: Send, scope: Scope, status: int, body: dict[str, Any]) -> None:
        log.warning("refused %s %s: %s", scope["method"], printable(scope["path"]), printable(body["error"]))
        headers = ((b"www-authenticate", b"Bearer"),) if status == 401 else ()
        await send_json(send, status, body, headers)


async def _whole_body(receive: Receive) -> bytes:
    # `rag.serve.api.guard` has read and capped the body already, and hands it on in one message.
    message = await receive()
    return message.get("body", b"") if message["type"] == "http.request" else b""


Problem = tuple[int, dict[str, Any]]


def _join_problem(blocks: gr.Blocks, body: bytes) -> Problem | None:
    try:
        join = json.loads(body)
    except ValueError:
        return 422, {"error": "the body is not JSON; send {\"data\": [...], \"fn_index\": n, \"session_hash\": "
                              "\"...\"}", "field": "body"}
    if not isinstance(join, dict):
        return 422, {"error": "the body must be a JSON object with data, fn_index and session_hash", "field": "body"}
    fn_index, session, data = join.get("fn_index"), join.get("session_hash"), join.get("data")
    events = blocks.fns
    if not isinstance(fn_index, int) or isinstance(fn_index, bool) or fn_index not in events:
        return 422, {"error": f"fn_index {_shown(fn_index)} is no event of this chat (it has "
                              f"{min(events)}-{max(events)}); reload the page", "field": "fn_index"}
    if not isinstance(session, str) or not 0 < len(session) <= _SESSION_CHARS:
        return 422, {"error": f"session_hash must be text of 1 to {_SESSION_CHARS} characters, not "
                              f"{_shown(session)}", "field": "session_hash"}
    inputs = len(events[fn_index].inputs)
    if not isinstance(data, list) or len(data) != inputs:
        given = str(len(data)) if isinstance(data, list) else _shown(data)
        return 422, {"error": f"data for fn_index {fn_index} must list {inputs} input{'s' * (inputs != 1)}, "
                              f"not {given}", "field": "data"}
    return None


def _is_api(blocks: gr.Blocks, body: bytes) -> bool:
    """Whether the (checked) join calls an endpoint of the API, as opposed to one of the page's own events."""
    return blocks.fns[json.loads(body)["fn_index"]].api_visibility != "private"


def _data_problem(blocks: gr.Blocks, scope: Scope) -> Problem | None:
    sessions = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash", [])
    if len(sessions) == 1 and sessions[0] in blocks._queue.pending_messages_per_session:
        return None
    shown = _shown(sessions[0]) if len(sessions) == 1 else "none" if not sessions else f"{len(sessions)} of them"
    return 404, {"error": f"no event waits for session_hash {shown}; join the queue first "
                          f"(POST {_JOIN})", "field": "session_hash"}


def _call_problem(blocks: gr.Blocks, name: str, event: str | None) -> Problem | None:
    endpoints = sorted(fn.api_name for fn in blocks.fns.values()
                       if fn.api_visibility != "private" and isinstance(fn.api_name, str))
    if name not in endpoints:
        listed = ", ".join(endpoints) or "none"
        return 404, {"error": f"no API endpoint {_shown(name)} here (there is: {listed})", "field": "api_name"}
    queue = blocks._queue
    if event is not None and event not in queue.event_ids_to_events and \
            not any(event in ids for ids in queue.pending_event_ids_session.values()):
        return 404, {"error": f"no event {_shown(event)} of /{name}; POST to /gradio_api/call/{name} first, "
                              "and read its event_id", "field": "event_id"}
    return None


def _shown(value: object) -> str:
    """A client's value in a message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"
