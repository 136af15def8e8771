"""The web server: JSON API, source pages, widget and the Gradio chat on one FastAPI app.

Routes (all below `Settings.root_path` when one is set):

    GET  /                    the chat (Gradio, `rag.ui`)
    GET  /embed/              the compact chat for iframes
    GET  /widget.js           a <script> that puts /embed/ in an iframe on a wiki page
    GET  /source/{doc_id}     an article, cleaned for reading, ?start=&end= highlighted
    POST /api/ask             {question, history?, k?} -> the Answer JSON of DESIGN.md
    GET  /api/documents       the articles; /api/documents/{doc_id}: their paragraphs
    GET  /healthz             the index in use; /docs: OpenAPI docs (served locally)

Stock Gradio is made safe for a wiki here, not in `rag.ui`: a CORS allowlist of
our own (Gradio then adds no CORS headers of its own), a Content-Security-Policy
on every response (`frame-ancestors` from settings; scripts, images, fonts and
connections only from this server), uploads and Gradio's file route refused,
monitoring and run history off, a cap on every request body, and errors shown
without tracebacks. This module (with the CLI) is where errors become HTTP
responses; the library only raises.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Annotated, Any, Literal

# Gradio and gradio_client report usage to a public host unless told not to;
# on an intranet (and offline) nothing may leave the machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402 (after the variable above, which it reads at import)
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field
from starlette._utils import get_route_path

from rag.citations import answer_to_dict, source_url
from rag.config import Settings
from rag.pipeline import RAG
from rag.schema import Document, QuestionError, RagError, Turn
from rag.source_view import not_found_page, source_page
from rag.ui import build_chat

log = logging.getLogger("rag.api")

STATIC_DIR = Path(__file__).parent / "static"
MAX_K = 100  # passages per question a caller may ask for; the index is a few hundred chunks
MAX_HISTORY = 50  # turns; each is read in order, and the last one without its answer is answered again
# The chat posts the whole conversation (answers as HTML, sources included)
# with every question, so its queue gets more room than the API's small bodies.
CHAT_BODY_BYTES = 4 * 1024 * 1024
_CHAT_JOIN = "/gradio_api/queue/join"
# Gradio routes this app never needs: uploads (no file inputs here) and serving
# files from disk. Refusing them outright closes Gradio's file-path surface.
_REFUSED = ("/gradio_api/upload", "/upload", "/gradio_api/file=", "/file=", "/gradio_api/file/", "/monitoring",
            "/gradio_api/monitoring")
# Everything a page may load comes from this server. Gradio's frontend needs
# inline scripts and styles; the source view needs neither.
_PAGE_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
             "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
             "connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; "
             "form-action 'self'")
_SOURCE_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'"


# --- request and response models (the OpenAPI schema a wiki developer generates a client from)

class TurnIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="an earlier question of the conversation")
    answer: str = Field("", description="the answer it got; when left out, the server answers the question again "
                                        "to read a follow-up's 'he' or 'it'")


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"question": "Who opposed NATO's office in Tokyo?"},
                     {"question": "And Russia?", "history": [{"question": "What did China say about the office?"}]}]})
    question: str = Field(description="the question; at most max_question_chars characters (2000 by default)")
    history: list[TurnIn] = Field(default_factory=list, max_length=MAX_HISTORY,
                                  description="earlier turns, oldest first; a follow-up like 'And Russia?' "
                                              "is read together with the last one")
    k: int | None = Field(None, ge=1, le=MAX_K,
                          description="passages handed to the answerer (the server's default if absent)")


class CitationOut(BaseModel):
    n: int = Field(description="the [n] marker in the answer")
    doc_id: str
    title: str
    paragraph: int = Field(description="body paragraph number, from 1; the anchor #p<n> of the source view")
    start: int = Field(description="character offset in the raw article file")
    end: int
    text: str = Field(description="raw[start:end], exactly as in the file")
    url: str = Field(description="the source view, scrolled to the paragraph, the sentence highlighted")
    quote: str = Field(description="the same sentence, cleaned for reading")


class PassageOut(BaseModel):
    rank: int
    score: float
    doc_id: str
    paragraph: int
    start: int
    end: int
    text: str
    chunk_id: int


class AnswerOut(BaseModel):
    question: str
    answer: str = Field(description="the answer with [n] markers, or a refusal")
    refused: bool = Field(description="true when the articles do not say; passages then lists the closest ones")
    citations: list[CitationOut]
    passages: list[PassageOut]
    timings_ms: dict[str, float]


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    date: str = Field(description="YYYY-MM-DD, or empty when the article states none")
    source: str
    url: str = Field(description="the original article's address, when known")
    paragraph_count: int = Field(description="body paragraphs (headings and boilerplate not counted)")
    source_view: str = Field(description="the article's page on this server")


class ParagraphOut(BaseModel):
    n: int = Field(description="body paragraphs count from 1; headings and boilerplate are 0")
    kind: Literal["body", "heading", "boilerplate"]
    start: int
    end: int
    text: str = Field(description="raw[start:end]")
    clean: str = Field(description="the readable text")


class DocumentDetailOut(DocumentOut):
    paragraphs: list[ParagraphOut]


class HealthOut(BaseModel):
    status: Literal["ok"]
    index_loaded: bool
    build_id: str
    corpus_fingerprint: str
    model: str
    model_sha256: str
    dimension: int
    documents: int
    chunks: int
    sentences: int


class ErrorOut(BaseModel):
    error: str = Field(description="what is wrong and how to fix it")
    field: str | None = Field(None, description="the request field at fault, when one is")


# Module level: FastAPI resolves the annotation `Depends(_BEARER)` among this module's globals.
_BEARER = HTTPBearer(auto_error=False, description="required when the server sets RAG_API_TOKEN")
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorOut} for code in (400, 401, 404, 413, 422)}


# --- the app

class _FieldError(HTTPException):
    """An HTTP error about one request field, answered as {"error", "field"}."""

    def __init__(self, status: int, message: str, field: str) -> None:
        super().__init__(status, message)
        self.field = field


def create_app(rag: RAG) -> FastAPI:
    """The whole server for one `RAG`: API, source view, widget, chat; settings from `rag.settings`."""
    settings = rag.settings
    app = FastAPIOffline(
        title="Ask the articles",
        version="1",
        description="Cited answers from a fixed set of news articles. Every citation links to the exact "
                    "sentence in its article (`url`, the source view).",
        redoc_url=None,
        static_url="/docs-static",
    )
    _add_error_handlers(app)
    app.include_router(_api_router(rag))
    _add_pages(app, rag)
    gradio_options = dict(server_name=settings.host, server_port=settings.port, run_history=False,
                          enable_monitoring=False, show_error=False, ssr_mode=False, mcp_server=False, pwa=False,
                          css_paths=[STATIC_DIR / "chat.css"])
    # /embed must be mounted before "/", which would otherwise take every path.
    gr.mount_gradio_app(app, build_chat(rag, embed=True), path="/embed", footer_links=[], **gradio_options)
    gr.mount_gradio_app(app, build_chat(rag), path="/", footer_links=["api"], **gradio_options)
    # Our CORS middleware, present even with an empty allowlist, is what makes
    # Gradio drop its own (which echoes any Origin once Host is not localhost).
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                       allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(_Guard, settings=settings)
    if settings.root_path:
        app.add_middleware(_AcceptPrefixedPaths, prefix=settings.root_path)
    return app


def serve(settings: Settings) -> None:
    """Load (building the index if needed, with progress printed) and serve until interrupted.

    A `RagError` from loading (empty corpus, broken index) propagates: the CLI
    prints it and exits non-zero instead of serving nothing.
    """
    import uvicorn

    rag = RAG.open(settings, progress=lambda message: print(message, flush=True))
    # `python -m rag index` run beside the server publishes a new build; the
    # server swaps it in between requests (requests in flight keep the old one).
    rag.watch()
    app = create_app(rag)
    print(f"serving {len(rag.documents)} articles at http://{settings.host}:{settings.port}{settings.root_path}/",
          flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, root_path=settings.root_path, log_level="info")


def _api_router(rag: RAG) -> APIRouter:
    settings = rag.settings

    def require_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        if not settings.api_token:
            return
        given = credentials.credentials if credentials else ""
        if not hmac.compare_digest(given.encode(), settings.api_token.encode()):
            raise HTTPException(401, "missing or wrong API token: send the header 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})

    router = APIRouter(prefix="/api", dependencies=[Depends(require_token)], responses=_ERRORS)

    @router.post("/ask", response_model=AnswerOut, summary="Answer a question, with citations")
    def ask(request: AskRequest) -> dict[str, Any]:
        # A plain `def`: FastAPI runs it in a worker thread, and RAG.ask is thread-safe.
        history = [Turn(t.question, t.answer) for t in request.history]
        return answer_to_dict(rag.ask(request.question, history, k=request.k))

    @router.get("/documents", response_model=list[DocumentOut], summary="The articles answers come from")
    def documents() -> list[dict[str, Any]]:
        return [_document_out(d, settings) for d in rag.documents.values()]

    @router.get("/documents/{doc_id:path}", response_model=DocumentDetailOut, summary="One article's paragraphs")
    def document(doc_id: str) -> dict[str, Any]:
        found = rag.documents.get(doc_id)
        if found is None:
            raise _FieldError(
                404, f"no article {doc_id!r}; GET /api/documents lists the {len(rag.documents)} there are", "doc_id")
        paragraphs = [{"n": p.n, "kind": p.kind, "start": p.start, "end": p.end, "text": p.text, "clean": p.clean}
                      for p in found.paragraphs]
        return {**_document_out(found, settings), "paragraphs": paragraphs}

    return router


def _document_out(document: Document, settings: Settings) -> dict[str, Any]:
    return {"doc_id": document.doc_id, "title": document.title, "date": document.date, "source": document.source,
            "url": document.url, "paragraph_count": len(document.body),
            "source_view": source_url(document.doc_id, 0, prefix=settings.public_url or settings.root_path)}


def _add_pages(app: FastAPI, rag: RAG) -> None:
    settings = rag.settings

    @app.get("/healthz", response_model=HealthOut, summary="The index in use")
    def healthz() -> dict[str, Any]:
        manifest = rag.manifest
        return {"status": "ok", "index_loaded": True, "build_id": manifest["build_id"],
                "corpus_fingerprint": manifest["key"]["corpus_fingerprint"],
                "model": manifest["model"]["name"], "model_sha256": manifest["model"]["sha256"],
                "dimension": manifest["model"]["dimension"], **manifest["counts"]}

    @app.get("/source/{doc_id:path}", response_class=HTMLResponse, summary="An article, the cited range highlighted")
    def source(doc_id: str, start: int | None = Query(None, ge=0, description="raw offset where the highlight starts"),
               end: int | None = Query(None, ge=0, description="raw offset where it ends")) -> HTMLResponse:
        document = rag.documents.get(doc_id)
        if document is None:
            return HTMLResponse(not_found_page(doc_id, list(rag.documents), settings.root_path), status_code=404)
        return HTMLResponse(source_page(document, start, end, settings.root_path))

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> FileResponse:
        return FileResponse(STATIC_DIR / "widget.js", media_type="text/javascript",
                            headers={"Cache-Control": "max-age=300"})

    @app.get("/embed", include_in_schema=False)
    def embed_slash() -> RedirectResponse:
        # Relative, so it stays under whatever prefix the page was reached by.
        return RedirectResponse("embed/", status_code=307)

    app.mount("/rag-static", StaticFiles(directory=STATIC_DIR), name="rag-static")


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            # loc is ("body", "question") or ("query", "start"): the first part says where, the rest which
            # field; for unparsable JSON the rest is a character position, and the field is the body itself.
            where = [str(part) for part in error.get("loc", ())[1:]]
            field = "body" if error.get("type") == "json_invalid" or not where else ".".join(where)
            problems.append({"field": field, "message": error.get("msg", "invalid")})
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return JSONResponse({"error": message, "field": problems[0]["field"] if problems else None,
                             "errors": problems}, status_code=422)

    @app.exception_handler(QuestionError)
    async def bad_question(request: Request, exc: QuestionError) -> JSONResponse:
        return JSONResponse({"error": str(exc), "field": "question"}, status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail), "field": getattr(exc, "field", None)},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RagError)
    async def not_ready(request: Request, exc: RagError) -> JSONResponse:
        log.error("cannot answer %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"error": "the service cannot answer right now; the server log says why"},
                            status_code=503)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal error; the server log has the details"}, status_code=500)


# --- ASGI middleware (plain ASGI: Gradio streams its queue as server-sent events)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _too_large(limit: int, settings: Settings) -> dict[str, str]:
    # A huge question usually lands here before its length can be checked: name that limit too.
    return {"error": f"the request body is over the {limit}-byte limit (setting max_body_bytes, RAG_MAX_BODY_BYTES); "
                     f"a question may have at most {settings.max_question_chars} characters "
                     "(setting max_question_chars)", "field": "body"}


class _Guard:
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
        path = get_route_path(scope)
        if any(part in path for part in _REFUSED):
            await _send_json(send, 404, {"error": "not served here: this server accepts no uploads and serves no files "
                                                  "through Gradio"})
            return
        limit = CHAT_BODY_BYTES if path.endswith(_CHAT_JOIN) else self.settings.max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _send_json(send, 413, _too_large(limit, self.settings))
            return
        if declared is None:
            # Without Content-Length (chunked) the size shows only while reading, and an error raised then
            # would be answered by whichever app reads the body (Gradio's in its own words, or as a 400):
            # read it here, up to the cap, and hand it on whole.
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                body += message.get("body", b"")
                if len(body) > limit:
                    await _send_json(send, 413, _too_large(limit, self.settings))
                    return
                if not message.get("more_body", False):
                    break
            receive = _replay(bytes(body), receive)
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


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` in one message, then whatever the client sends next (its disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> MutableMapping[str, Any]:
        return pending.pop() if pending else await receive()

    return replay


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


class _AcceptPrefixedPaths:
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
            route = get_route_path(scope)
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
