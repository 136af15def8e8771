"""The request and response models of the HTTP API: the OpenAPI schema a wiki developer builds a client from.

The Answer JSON (`AnswerOut`) is rag.answer.contract's; the rest is here. A request
model states the limits the server really enforces: the question's length
and "not blank" come from the settings and from `rag.answer.reading.is_blank`,
though the pipeline checks them itself (a 400 naming the limit).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from rag.answer.conversation import MAX_TURNS
from rag.answer.reading import is_blank

MAX_K = 100  # passages per question a caller may ask for; the index is a few hundred chunks
MAX_HISTORY = MAX_TURNS  # each is read in order, and the last one without its answer is answered again
# An earlier answer sent back: this server's are at most 120 words, an LLM's some hundreds; a cap keeps one turn
# from costing what a thousand questions do.
MAX_ANSWER_CHARS = 10_000
_SURROGATES = range(0xD800, 0xE000)  # cannot travel in UTF-8 JSON, nor stand in a pattern


def _whole_number(value: object) -> object:
    """What JSON Schema calls an integer (5, 5.0) and nothing else: pydantic would read true as 1 and "5" as 5."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise PydanticCustomError("whole_number", "Input should be a whole number")
    return int(value)


@cache
def turn_request_model(max_question_chars: int) -> type[BaseModel]:
    """An earlier turn in a request body (POST /api/ask, /api/feedback), its question bounded as a question is.

    One class per limit, shared by every route, so the OpenAPI names one `TurnIn` schema."""

    def within_limit(question: str) -> str:
        # An earlier question is read, cleaned and searched as the question is: bounded the same, in the same words.
        if len(question) > max_question_chars:
            raise PydanticCustomError("question_too_long", f"the question has {len(question)} characters; the limit "
                                      f"is {max_question_chars} (setting max_question_chars, RAG_MAX_QUESTION_CHARS)")
        return question

    class TurnIn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        question: Annotated[str, AfterValidator(within_limit)] = Field(
            description=f"an earlier question of the conversation, at most {max_question_chars} characters",
            json_schema_extra={"maxLength": max_question_chars})
        answer: str = Field("", max_length=MAX_ANSWER_CHARS,
                            description="the answer it got; when left out, the server answers the question again "
                                        "to read a follow-up's 'he' or 'it'")

    return TurnIn


class TurnOut(BaseModel):
    question: str = Field(description="an earlier question of the conversation")
    answer: str = Field("", description="the answer it got")


def ask_request_model(max_question_chars: int) -> type[BaseModel]:
    """The body of POST /api/ask, its questions' limits those of a server with `max_question_chars`."""
    TurnIn = turn_request_model(max_question_chars)  # noqa: N806 - a class, named as the schema names it

    class AskRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", json_schema_extra={
            "examples": [{"question": "Who opposed NATO's office in Tokyo?"},
                         {"question": "And Russia?", "history": [{"question": "What did China say about the office?"}]}]})
        question: str = question_field(max_question_chars)
        history: list[TurnIn] = Field(default_factory=list, max_length=MAX_HISTORY,
                                      description="earlier turns, oldest first; a follow-up like 'And Russia?' "
                                                  "is read together with the last one")
        # The bounds come before the validator so that the schema states them as minimum and maximum.
        k: Annotated[int, Field(ge=1, le=MAX_K), BeforeValidator(_whole_number)] | None = Field(None,
                              description="passages handed to the answerer (the server's default if absent)")

    return AskRequest


def question_field(max_question_chars: int) -> Any:
    """A question's field: its limits stated in the schema, checked by the pipeline (a 400 naming the limit)."""
    return Field(description=f"the question: at most {max_question_chars} characters (setting max_question_chars), "
                             "at least one of them neither whitespace nor a control, format or private-use character",
                 json_schema_extra={"minLength": 1, "maxLength": max_question_chars, "pattern": not_blank_pattern()})


@cache
def not_blank_pattern() -> str:
    """A regular expression (JSON Schema `pattern`) found in every question that is not blank.

    It is a character class of everything `is_blank` rejects, worked out over
    all of Unicode once (well under a second), so the schema cannot drift from
    the check. Escapes for the basic plane; characters above it are written as
    themselves, which JSON Schema (ECMA-262 with the `u` flag), Python and Rust
    regular expressions all read the same way.
    """
    ranges: list[list[int]] = []
    for code in range(0x110000):
        if code in _SURROGATES or not is_blank(chr(code)):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    parts = [_char(low) if low == high else f"{_char(low)}-{_char(high)}" for low, high in ranges]
    return f"[^{''.join(parts)}]"


def _char(code: int) -> str:
    return f"\\u{code:04x}" if code < 0x10000 else chr(code)


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


class InvalidRequestOut(ErrorOut):
    errors: list[dict[str, str]] = Field(description="every invalid field: {field, message}")
