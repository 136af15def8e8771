"""The web server: JSON API, source pages, widget and the Gradio chat on one FastAPI app.

Routes (all below `Settings.root_path` when one is set):

    GET  /                    the chat (Gradio, `rag.serve.ui`)
    GET  /embed/              the compact chat for iframes
    GET  /widget.js           a <script> that puts /embed/ in an iframe on a wiki page
    GET  /source/{doc_id}     a page (ids may hold "/"), cleaned for reading, ?start=&end= highlighted
    POST /api/ask             {question, history?, k?} -> the Answer JSON (rag.answer.contract)
    GET  /api/documents       the articles; /api/documents/{doc_id}: their paragraphs
    POST /api/feedback        a reader's rating of an answer; GET /api/feedback: the ratings (rag.serve.api.feedback)
    GET  /healthz             the index in use; /docs: OpenAPI docs (served locally)

The parts, each in its module: `routes` (the JSON API and its token),
`pages` (health, source view, widget), `models` (request and response
models), `errors` (errors as HTTP responses), `doc_ids` (the article-id
path parameter), `guard` (security headers, refused Gradio routes, body
caps and deadlines), `timeouts` (uvicorn's, and a deadline for headers), `gradio_gate` (the
token on Gradio's API, its queue calls checked), `methods` (405 for undeclared methods), `root_path` (serving under a
prefix). Stock Gradio is made safe for a wiki here, not in `rag.serve.ui`: our
CORS allowlist (Gradio then adds no CORS headers of its own), the guard,
monitoring and run history off, errors without tracebacks.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

# Gradio and gradio_client report usage to a public host unless told not to;
# on an intranet (and offline) nothing may leave the machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402 (after the variable above, which it reads at import)
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.middleware.cors import CORSMiddleware  # noqa: E402
from fastapi_offline import FastAPIOffline  # noqa: E402

from rag.config import Settings  # noqa: E402
from rag.serve.listening import listen, url  # noqa: E402
from rag.pipeline import RAG  # noqa: E402
from rag.printable import printable  # noqa: E402
from rag.serve.api.errors import add_error_handlers  # noqa: E402
from rag.serve.api.gradio_gate import GradioGate  # noqa: E402
from rag.serve.api.guard import Guard, framing_line  # noqa: E402
from rag.serve.api.methods import RejectUndeclaredMethods  # noqa: E402
from rag.serve.api.pages import STATIC_DIR, add_pages  # noqa: E402
from rag.serve.api.root_path import AcceptPrefixedPaths  # noqa: E402
from rag.serve.api.routes import api_router  # noqa: E402
from rag.serve.api.timeouts import uvicorn_options  # noqa: E402
from rag.serve.ui import build_chat, chat_title, theme  # noqa: E402

def create_app(rag: RAG) -> FastAPI:
    """The whole server for one `RAG`: API, source view, widget, chat; settings from `rag.settings`."""
    settings = rag.settings
    app = FastAPIOffline(
        title=chat_title(settings.documents_noun),
        version="1",
        description=f"Cited answers from a fixed set of {settings.documents_noun}. Every citation links to the "
                    "exact sentence in its document (`url`, the source view).",
        redoc_url=None,
        static_url="/docs-static",
    )
    app.state.settings = settings  # for whoever serves the app: its timeouts (rag.serve.api.timeouts) are settings
    add_error_handlers(app)
    api = api_router(rag)
    app.include_router(api)
    add_pages(app, rag)
    gradio_options = dict(server_name=settings.host, server_port=settings.port, run_history=False,
                          enable_monitoring=False, show_error=False, ssr_mode=False, mcp_server=False, pwa=False,
                          css_paths=[STATIC_DIR / "chat.css"], theme=theme())
    chats = {"/embed": build_chat(rag, embed=True), "": build_chat(rag)}
    # /embed must be mounted before "/", which would otherwise take every path.
    gr.mount_gradio_app(app, chats["/embed"], path="/embed", footer_links=[], **gradio_options)
    gr.mount_gradio_app(app, chats[""], path="/", footer_links=["api"], **gradio_options)
    app.add_middleware(GradioGate, settings=settings, chats=chats)
    # The API's routes are listed from their router: FastAPI keeps an included router as one opaque route.
    app.add_middleware(RejectUndeclaredMethods, routes=[*app.routes, *api.routes])
    # Our CORS middleware, present even with an empty allowlist, is what makes
    # Gradio drop its own (which echoes any Origin once Host is not localhost).
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                       allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(Guard, settings=settings)
    if settings.root_path:
        app.add_middleware(AcceptPrefixedPaths, prefix=settings.root_path)
    return app


def serve(settings: Settings, sock: socket.socket) -> None:
    """Load (building the index if needed, with progress printed) and serve on `sock` (bound by
    `rag.serve.listening.bind`) until interrupted.

    A `RagError` from loading (empty corpus, broken index) propagates: the CLI
    prints it and exits non-zero instead of serving nothing. The "serving…"
    line is printed once the server is listening, never before.
    """
    rag = RAG.open(settings, progress=lambda message: print(printable(message), flush=True))
    # `python -m rag index` run beside the server publishes a new build; the
    # server swaps it in between requests (requests in flight keep the old one).
    rag.watch()
    app = create_app(rag)
    listen(sock, settings.host, settings.port)

    def listening() -> None:
        print(f"serving {len(rag.documents)} {settings.documents_noun} at "
              f"{url(settings.host, settings.port, settings.root_path)}", flush=True)
        print(framing_line(settings), flush=True)

    config = uvicorn.Config(app, host=settings.host, port=settings.port, root_path=settings.root_path,
                            log_level="info", timeout_graceful_shutdown=settings.shutdown_grace_s,
                            **uvicorn_options(settings))
    try:
        _Server(config, listening).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a server is stopped: uvicorn has already closed the connections


class _Server(uvicorn.Server):
    """uvicorn's server, saying so once it listens."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_listening = on_listening

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.on_listening()
