"""Serving the app under a path prefix (`Settings.root_path`, e.g. /qa) behind a reverse proxy."""

from __future__ import annotations

from fastapi.responses import RedirectResponse

from rag.serve.api.asgi import ASGIApp, Receive, Scope, Send, route_path


class AcceptPrefixedPaths:
    """Serve `<prefix>/x` as `/x`, so the app works behind a proxy that strips the prefix or not.

    uvicorn's `root_path` assumes the proxy strips it (`/qa/x` arrives as `/x`);
    a proxy that forwards the whole path, or a visit without a proxy, sends
    `/qa/x`. Both reach the same route, and `root_path` is `/qa` either way, so
    Gradio and our pages build their links under the prefix.
    """

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            root = scope.get("root_path", "")
            route = route_path(scope)
            if route == self.prefix and scope["type"] == "http":
                query = scope.get("query_string", b"").decode("latin-1")
                location = f"{root}{self.prefix}/" if root != self.prefix else f"{root}/"
                await RedirectResponse(location + (f"?{query}" if query else ""), 307)(scope, receive, send)
                return
            if route.startswith(self.prefix + "/"):
                new_root = root if root.endswith(self.prefix) else root + self.prefix
                new_path = new_root + route[len(self.prefix):]
                scope = {**scope, "root_path": new_root, "path": new_path, "raw_path": new_path.encode()}
        await self.app(scope, receive, send)
