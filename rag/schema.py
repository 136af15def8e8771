"""The data objects every stage exchanges, and the errors the library raises.

No logic lives here. Every object that carries `start`, `end` and `text` obeys
one invariant: `raw[start:end] == text`, where `raw` is the exact content of
`corpus/<doc_id>.txt` decoded as UTF-8 (offsets count characters). Text meant
for reading or embedding (markdown links reduced to their words, bylines cut
out, whitespace folded) is kept beside it in `clean`, never in place of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

ParagraphKind = Literal["body", "heading", "boilerplate"]


@dataclass(frozen=True)
class Paragraph:
    doc_id: str
    n: int  # body paragraphs count from 1; headings and boilerplate get 0
    start: int
    end: int
    text: str
    kind: ParagraphKind
    # The readable text; for a paragraph rejoined across a page-break byline it
    # skips the byline, which `text` (the raw span) still contains.
    clean: str = ""
    # Raw ranges the paragraph is made of: one, or several when a page break cut it.
    segments: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Document:
    doc_id: str
    path: str
    title: str
    date: str  # ISO date (YYYY-MM-DD) or "" when the article states none
    source: str
    raw: str
    paragraphs: tuple[Paragraph, ...]
    url: str = ""  # the original article's address, when metadata gives one

    @property
    def body(self) -> tuple[Paragraph, ...]:
        return tuple(p for p in self.paragraphs if p.kind == "body")


@dataclass(frozen=True)
class Sentence:
    """One sentence of a body paragraph: the unit an extractive answer cites."""

    doc_id: str
    paragraph: int
    start: int
    end: int
    text: str
    clean: str


@dataclass(frozen=True)
class Chunk:
    chunk_id: int
    doc_id: str
    paragraph: int
    start: int
    end: int
    text: str
    clean: str = ""


@dataclass(frozen=True)
class Passage:
    chunk: Chunk
    score: float
    rank: int  # 1-based


@dataclass(frozen=True)
class Citation:
    n: int
    doc_id: str
    title: str
    paragraph: int
    start: int
    end: int
    text: str
    url: str
    clean: str = ""


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    citations: tuple[Citation, ...]
    passages: tuple[Passage, ...]
    refused: bool
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation, as the pipeline needs it."""

    question: str
    answer: str = ""  # the answer's text; "" when the caller did not keep it


@dataclass(frozen=True)
class Reading:
    """A question as the pipeline searches and answers it, read against the conversation before it."""

    text: str  # the question standing alone: "he" named, a bare "When?" completed from the turn before
    context: str = ""  # the earlier question it leans on, "" when it stands alone
    earlier_answer: str = ""  # that turn's answer, what "it" or "they" may point into
    named: str = ""  # the person put in place of "he"/"she", "" when none was
    asks_again: bool = False  # the earlier question asked again with another question word ("When?")
    question: str = ""  # the question as the reader put it (normalised), which the answer repeats
    # Made to stand alone ("he" named, "When?" completed, a subject swapped): it needs less of the turn before.
    rewritten: bool = False


@dataclass(frozen=True)
class Retrieval:
    """What retrieval found for a `Reading`: the passages, and the query they were found with."""

    passages: tuple[Passage, ...]  # best first; the first `k` are answered from, all are listed
    k: int
    query_vector: np.ndarray  # the question as embedded (follow-up context blended in), unit length
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def answered_from(self) -> tuple[Passage, ...]:
        return self.passages[:self.k]


class RagError(Exception):
    """Base of every error the library raises on purpose; its text is for users."""


class ConfigError(RagError):
    """A setting has a value the program cannot use."""


class CorpusError(RagError):
    """The corpus cannot be read into at least one document."""


class IndexMissingError(RagError):
    """No usable index exists where the settings point."""


class IndexCorruptError(RagError):
    """The index on disk fails a check (checksum, shape, model, format)."""


class StaleIndexError(RagError):
    """The index was built from another corpus, model or chunking."""


class ServeError(RagError):
    """The server cannot listen where the settings say (a port in use, a host that is not this machine's)."""


class StoreUnavailableError(RagError):
    """The shared vector store (a Milvus server) does not answer; requests fail until it is back."""


class ModelError(RagError):
    """The embedding model cannot be found or loaded offline."""


class QuestionError(RagError):
    """The question cannot be answered as given (empty, too long)."""


class QuestionFileError(RagError):
    """A question file is malformed; the message names the line."""


class ReportFileError(RagError):
    """A report file given to `--compare` or `rescore` cannot be read."""


class AnswererError(RagError):
    """The configured answerer (an LLM endpoint) failed to answer."""
