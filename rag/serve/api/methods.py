"""405 Method Not Allowed, with `Allow`, for a method a route of ours does not serve.

Starlette answers a known path with an unknown method by 405 only when no
later route takes the path; the chat, mounted at "/", takes every path, so
without this `TRACE /healthz` would reach Gradio and come back 404.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Route

from rag.serve.api.asgi import ASGIApp, Receive, Scope, Send, route_path, send_json


class RejectUndeclaredMethods:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = [route for route in routes if isinstance(route, Route)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # One path may have a route per method (GET and POST /api/feedback): 405 only when none takes this one.
            matches = [(route.matches(scope)[0], route) for route in self.routes]
            methods = sorted({m for match, route in matches if match is Match.PARTIAL for m in route.methods or ()})
            if methods and not any(match is Match.FULL for match, _ in matches):
                allowed = ", ".join(methods)
                await send_json(send, 405, {"error": f"{scope['method']} is not served on {route_path(scope)}; "
                                                     f"use {allowed}", "field": None},
                                headers=((b"allow", allowed.encode()),))
                return
        await self.app(scope, receive, send)
