"""The Answer JSON: the one definition of how an `Answer` looks outside the library.

`AnswerOut` (with `CitationOut` and `PassageOut`) is the contract DESIGN.md
describes. Everything that writes or reads an Answer as JSON goes through it:
`ask --json` (rag.cli), `POST /api/ask` and its OpenAPI schema (rag.serve.api), the
chat's `/ask` endpoint (rag.serve.ui) and evaluation reports (rag.evaluation), so a
field added or renamed here changes all of them at once.

The JSON differs from the dataclasses of rag.schema on purpose, and only in
`from_answer`/`to_answer`: the answer's `text` is called `answer`, a
citation's `clean` is its `quote`, a passage is flattened with its chunk
(whose `clean` text is left out), scores are rounded to 6 decimals and
timings to 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rag.schema import Answer, Chunk, Citation, Passage


class CitationOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int = Field(description="the [n] marker in the answer")
    doc_id: str
    title: str
    paragraph: int = Field(description="body paragraph number, from 1; the anchor #p<n> of the source view")
    start: int = Field(description="character offset in the raw article file")
    end: int
    text: str = Field(description="raw[start:end], exactly as in the file")
    url: str = Field(description="the source view, scrolled to the paragraph, the sentence highlighted")
    quote: str = Field(description="the same sentence, cleaned for reading")

    @classmethod
    def from_citation(cls, citation: Citation) -> CitationOut:
        return cls(n=citation.n, doc_id=citation.doc_id, title=citation.title, paragraph=citation.paragraph,
                   start=citation.start, end=citation.end, text=citation.text, url=citation.url,
                   quote=citation.clean)

    def to_citation(self) -> Citation:
        return Citation(n=self.n, doc_id=self.doc_id, title=self.title, paragraph=self.paragraph, start=self.start,
                        end=self.end, text=self.text, url=self.url, clean=self.quote)


class PassageOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: int = Field(description="1 for the passage retrieval ranked first")
    score: float
    doc_id: str
    paragraph: int
    start: int
    end: int
    text: str = Field(description="raw[start:end]")
    chunk_id: int

    @classmethod
    def from_passage(cls, passage: Passage) -> PassageOut:
        chunk = passage.chunk
        return cls(rank=passage.rank, score=round(float(passage.score), 6), doc_id=chunk.doc_id,
                   paragraph=chunk.paragraph, start=chunk.start, end=chunk.end, text=chunk.text,
                   chunk_id=chunk.chunk_id)

    def to_passage(self) -> Passage:
        chunk = Chunk(chunk_id=self.chunk_id, doc_id=self.doc_id, paragraph=self.paragraph, start=self.start,
                      end=self.end, text=self.text)
        return Passage(chunk=chunk, score=self.score, rank=self.rank)


class AnswerOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str
    answer: str = Field(description="the answer with [n] markers, or a refusal")
    refused: bool = Field(description="true when the articles do not say; passages then lists the closest ones")
    citations: list[CitationOut]
    passages: list[PassageOut]
    timings_ms: dict[str, float]

    @classmethod
    def from_answer(cls, answer: Answer) -> AnswerOut:
        return cls(question=answer.question, answer=answer.text, refused=answer.refused,
                   citations=[CitationOut.from_citation(c) for c in answer.citations],
                   passages=[PassageOut.from_passage(p) for p in answer.passages],
                   timings_ms={name: round(ms, 2) for name, ms in answer.timings_ms.items()})

    def to_answer(self) -> Answer:
        return Answer(question=self.question, text=self.answer, citations=tuple(c.to_citation() for c in self.citations),
                      passages=tuple(p.to_passage() for p in self.passages), refused=self.refused,
                      timings_ms=dict(self.timings_ms))


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    """The Answer JSON of `answer`, as plain dicts and lists ready for `json.dumps`."""
    return AnswerOut.from_answer(answer).model_dump()


def answer_from_dict(data: Mapping[str, Any]) -> Answer:
    """The `Answer` an Answer JSON describes; pydantic's `ValidationError` (a `ValueError`) when it is not one."""
    return AnswerOut.model_validate(data).to_answer()
