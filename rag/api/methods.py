"""405 Method Not Allowed, with `Allow`, for a method a route of ours does not serve.

Starlette answers a known path with an unknown method by 405 only when no
later route takes the path; the chat, mounted at "/", takes every path, so
without this `TRACE /healthz` would reach Gradio and come back 404.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Route

from rag.api.asgi import ASGIApp, Receive, Scope, Send, route_path, send_json


class RejectUndeclaredMethods:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = [route for route in routes if isinstance(route, Route)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.routes:
                match, _ = route.matches(scope)
                if match is Match.FULL:
                    break
                if match is Match.PARTIAL:  # the path is this route's, the method is not
                    allowed = ", ".join(sorted(route.methods or ()))
                    await send_json(send, 405, {"error": f"{scope['method']} is not served on {route_path(scope)}; "
                                                         f"use {allowed}", "field": None},
                                    headers=((b"allow", allowed.encode()),))
                    return
        await self.app(scope, receive, send)
