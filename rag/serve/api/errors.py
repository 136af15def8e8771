"""Where errors become HTTP responses: every error body is `{"error", "field"}` (rag.serve.api.models.ErrorOut).

The library only raises; these handlers choose the status code and the words.
Errors a caller can fix name the field at fault; errors a caller cannot fix
(a broken index, a bug) say only that the server log has the details.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.schema import QuestionError, RagError, StoreUnavailableError
from rag.serve.api.models import ErrorOut, InvalidRequestOut

log = logging.getLogger("rag.serve.api")

# FastAPI's words for a body it cannot decode (not UTF-8, say): replaced by ones that say what to send.
_UNPARSABLE_BODY = "There was an error parsing the body"


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error codes, each with its body model."""
    return {code: {"model": InvalidRequestOut if code == 422 else ErrorOut} for code in codes}


class FieldError(HTTPException):
    """An HTTP error about one request field, answered as {"error", "field"}."""

    def __init__(self, status: int, message: str, field: str) -> None:
        super().__init__(status, message)
        self.field = field


def add_error_handlers(app: FastAPI) -> None:
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

    # Starlette's own class is raised by FastAPI for a body it cannot decode (not UTF-8), and by the static
    # file mounts for a missing file; the latter keep Starlette's answer.
    @app.exception_handler(StarletteHTTPException)
    async def unreadable_body(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
            return JSONResponse({"error": "the request body cannot be read: send UTF-8 JSON, e.g. "
                                          '{"question": "Who objected to the liaison office?"}', "field": "body"},
                                status_code=400)
        return await http_exception_handler(request, exc)

    # The shared store is down: the reason (which server, since when it retries) is the operator's and the
    # caller's both, and holds no secret; the next request succeeds once the store is back.
    @app.exception_handler(StoreUnavailableError)
    async def store_down(request: Request, exc: StoreUnavailableError) -> JSONResponse:
        log.warning("cannot answer %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"error": f"the index store is unavailable: {exc}", "field": None}, status_code=503,
                            headers={"Retry-After": "1"})

    @app.exception_handler(RagError)
    async def not_ready(request: Request, exc: RagError) -> JSONResponse:
        log.error("cannot answer %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"error": "the service cannot answer right now; the server log says why"},
                            status_code=503)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal error; the server log has the details"}, status_code=500)
