"""The ratings API: POST /api/feedback stores a reader's verdict on an answer, GET /api/feedback lists them.

The routes join the /api router of `rag.serve.api.routes`, so the API token (when
one is set) guards them as it guards asking. The rated answer comes back as
sent, as the Answer JSON, and is checked as strictly as the schema states it:
pydantic would otherwise read `true` as 1 and "5" as 5, and a rating of a
made-up answer would land in the file.
"""

# No `from __future__ import annotations`: FastAPI reads the annotations below at run time, and they name
# a class made inside a function (the request model).

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from rag.answer.contract import AnswerOut, CitationOut, PassageOut
from rag.answer.reading import normalise_question
from rag.pipeline import RAG
from rag.schema import Turn
from rag.serve.api.errors import FieldError, error_responses
from rag.serve.api.models import MAX_HISTORY, TurnOut, question_field, turn_request_model
from rag.serve.feedback import MAX_COMMENT_CHARS, FeedbackStore, Rating, RatingError

MAX_LISTED = 200  # ratings per page of GET /api/feedback
LISTED = 20  # its default


# As JSON Schema reads the schema: true is no integer and "5" no number.
_STRICT = ConfigDict(extra="forbid", strict=True)


class CitationIn(CitationOut):
    model_config = _STRICT


class PassageIn(PassageOut):
    model_config = _STRICT


class AnswerIn(AnswerOut):
    """The Answer JSON as POST /api/ask returned it."""

    model_config = _STRICT
    citations: list[CitationIn]
    passages: list[PassageIn]


class RatingOut(BaseModel):
    id: str = Field(description="the rating's id")
    time: str = Field(description="when it was stored, UTC, ISO 8601")
    build_id: str = Field(description="the index build that served when it was stored")
    question: str
    history: list[TurnOut]
    answer: AnswerOut
    helpful: bool
    comment: str


class RatingsOut(BaseModel):
    total: int = Field(description="ratings stored in all")
    offset: int
    limit: int
    ratings: list[RatingOut] = Field(description="newest first")


def feedback_request_model(max_question_chars: int) -> type[BaseModel]:
    """The body of POST /api/feedback, its question's limits those of a server with `max_question_chars`."""

    TurnIn = turn_request_model(max_question_chars)  # noqa: N806 - a class, named as the schema names it

    class FeedbackRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        question: str = question_field(max_question_chars)
        history: list[TurnIn] = Field(default_factory=list, max_length=MAX_HISTORY,
                                      description="the earlier turns of the conversation, oldest first")
        answer: AnswerIn = Field(description="the Answer JSON the reader rates, as POST /api/ask returned it")
        helpful: StrictBool = Field(description="true: helpful; false: not helpful")
        comment: str = Field("", description=f"what was right or wrong, at most {MAX_COMMENT_CHARS} characters",
                             json_schema_extra={"maxLength": MAX_COMMENT_CHARS})

    return FeedbackRequest


def add_feedback_routes(router: APIRouter, rag: RAG, auth_errors: tuple[int, ...]) -> None:
    """POST and GET /feedback on `router` (the /api router), storing in `rag.settings.feedback_dir`."""
    settings = rag.settings
    store = FeedbackStore(settings.feedback_dir)
    FeedbackRequest = feedback_request_model(settings.max_question_chars)  # named as the schema names it

    @router.post("/feedback", status_code=201, response_model=RatingOut, summary="Rate an answer",
                 responses=error_responses(400, *auth_errors, 413, 422, 503))
    def rate(request: FeedbackRequest) -> dict[str, Any]:
        # The question's checks are asking's (a QuestionError: 400 naming the limit), as the schema shares them.
        normalise_question(request.question, settings.max_question_chars, settings.documents_noun)
        try:
            rating = Rating(question=request.question, answer=request.answer.model_dump(), helpful=request.helpful,
                            history=tuple(Turn(t.question, t.answer) for t in request.history),
                            comment=request.comment, build_id=rag.manifest["build_id"])
        except RatingError as err:
            raise FieldError(400, str(err), "comment") from None
        return store.add(rating).to_json()

    @router.get("/feedback", response_model=RatingsOut, summary="The ratings, newest first",
                responses=error_responses(*auth_errors, 422, 503))
    def ratings(limit: int = Query(LISTED, ge=1, le=MAX_LISTED, description="ratings on this page"),
                offset: int = Query(0, ge=0, description="ratings skipped, newest first")) -> dict[str, Any]:
        every = store.ratings()
        return {"total": len(every), "offset": offset, "limit": limit,
                "ratings": [r.to_json() for r in every[offset:offset + limit]]}
