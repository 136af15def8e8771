"""The JSON API under /api: asking, and the articles answers come from.

With `Settings.api_token` set, every route here requires `Authorization:
Bearer <token>`, and the OpenAPI schema says so; without one, the schema
declares no authentication at all, since none is asked for.
"""

# No `from __future__ import annotations`: FastAPI reads the parameter annotations below at run time, and
# they name classes made inside functions (the request model, the bearer scheme), not module globals.

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

import rag.serve.api.doc_ids  # noqa: F401 (registers the {doc_id:doc_id} path parameter)
from rag.answer.citations import source_url
from rag.answer.contract import AnswerOut
from rag.config import Settings
from rag.pipeline import RAG
from rag.schema import Document, Turn
from rag.serve.api.errors import FieldError, error_responses
from rag.serve.api.feedback import add_feedback_routes
from rag.serve.api.models import DocumentDetailOut, DocumentOut, ask_request_model


def api_router(rag: RAG) -> APIRouter:
    settings = rag.settings
    dependencies = [Depends(_token_check(settings.api_token))] if settings.api_token else []
    auth_errors = (401,) if settings.api_token else ()
    router = APIRouter(prefix="/api", dependencies=dependencies)
    AskRequest = ask_request_model(settings.max_question_chars)  # a class, named as the schema names it

    @router.post("/ask", response_model=AnswerOut, summary="Answer a question, with citations",
                 responses=error_responses(400, *auth_errors, 413, 422, 503))
    def ask(request: AskRequest) -> AnswerOut:
        # A plain `def`: FastAPI runs it in a worker thread, and RAG.ask is thread-safe.
        history = [Turn(t.question, t.answer) for t in request.history]
        return AnswerOut.from_answer(rag.ask(request.question, history, k=request.k))

    @router.get("/documents", response_model=list[DocumentOut], summary="The articles answers come from",
                responses=error_responses(*auth_errors))
    def documents() -> list[dict[str, Any]]:
        return [_document_out(d, settings) for d in rag.documents.values()]

    @router.get("/documents/{doc_id:doc_id}", response_model=DocumentDetailOut, summary="One article's paragraphs",
                responses=error_responses(*auth_errors, 404, 422))
    def document(doc_id: str) -> dict[str, Any]:
        found = rag.documents.get(doc_id)
        if found is None:
            raise FieldError(
                404, f"no document {doc_id!r}; GET /api/documents lists the {len(rag.documents)} there are", "doc_id")
        paragraphs = [{"n": p.n, "kind": p.kind, "start": p.start, "end": p.end, "text": p.text, "clean": p.clean}
                      for p in found.paragraphs]
        return {**_document_out(found, settings), "paragraphs": paragraphs}

    add_feedback_routes(router, rag, auth_errors)
    return router


def _token_check(token: str) -> Callable[[HTTPAuthorizationCredentials | None], None]:
    bearer = HTTPBearer(auto_error=False, description="the server's RAG_API_TOKEN")

    def require_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        given = credentials.credentials if credentials else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong API token: send the header 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})

    return require_token


def _document_out(document: Document, settings: Settings) -> dict[str, Any]:
    return {"doc_id": document.doc_id, "title": document.title, "date": document.date, "source": document.source,
            "url": document.url, "paragraph_count": len(document.body),
            "source_view": source_url(document.doc_id, 0, prefix=settings.public_url or settings.root_path)}
