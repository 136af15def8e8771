"""What the server shows besides the API: health, the source view, the widget script and static files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

import rag.serve.api.doc_ids  # noqa: F401 (registers the {doc_id:doc_id} path parameter)
from rag.pipeline import RAG
from rag.serve.api.errors import error_responses
from rag.serve.api.models import HealthOut, InvalidRequestOut
from rag.serve.source_view import not_found_page, source_page
from rag.serve.ui import chat_title

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
WIDGET_TITLE = '"Ask the articles"'  # widget.js's default frame title, as the file writes it; served in the corpus's words
_HTML = {"text/html": {"schema": {"type": "string"}}}


def add_pages(app: FastAPI, rag: RAG) -> None:
    settings = rag.settings

    @app.get("/healthz", response_model=HealthOut, summary="The index in use",
             responses={503: {**error_responses(503)[503], "description": "the index store (Milvus) does not answer"}})
    def healthz() -> Any:
        trouble = rag.health()
        if trouble is not None:
            return JSONResponse({"error": f"the index store is unavailable: {trouble}", "field": None},
                                status_code=503, headers={"Retry-After": "1"})
        manifest = rag.manifest
        return {"status": "ok", "index_loaded": True, "build_id": manifest["build_id"],
                "corpus_fingerprint": manifest["key"]["corpus_fingerprint"],
                "model": manifest["model"]["name"], "model_sha256": manifest["model"]["sha256"],
                "dimension": manifest["model"]["dimension"], **manifest["counts"]}

    @app.get("/source/{doc_id:doc_id}", response_class=HTMLResponse, summary="An article, the cited range highlighted",
             responses={200: {"content": _HTML, "description": "the article as a page"},
                        404: {"content": _HTML, "description": "no such article: a page listing those there are"},
                        # Spelled out: FastAPI would file a model's schema under the route's text/html.
                        422: {"description": "an invalid start or end",
                              "content": {"application/json": {"schema": InvalidRequestOut.model_json_schema()}}}})
    def source(doc_id: str, start: int | None = Query(None, ge=0, description="raw offset where the highlight starts"),
               end: int | None = Query(None, ge=0, description="raw offset where it ends")) -> HTMLResponse:
        document = rag.documents.get(doc_id)
        if document is None:
            return HTMLResponse(not_found_page(doc_id, list(rag.documents), settings.root_path), status_code=404)
        return HTMLResponse(source_page(document, start, end, settings.root_path))

    # The frame the script inserts is titled as the chat is (a screen reader announces it on the wiki's page).
    widget_js = (STATIC_DIR / "widget.js").read_text(encoding="utf-8").replace(
        WIDGET_TITLE, json.dumps(chat_title(settings.documents_noun)))

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> Response:
        return Response(widget_js, media_type="text/javascript", headers={"Cache-Control": "max-age=300"})

    @app.get("/embed", include_in_schema=False)
    def embed_slash() -> RedirectResponse:
        # Relative, so it stays under whatever prefix the page was reached by.
        return RedirectResponse("embed/", status_code=307)

    app.mount("/rag-static", StaticFiles(directory=STATIC_DIR), name="rag-static")
