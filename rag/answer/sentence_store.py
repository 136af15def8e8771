"""`SentenceStore`: what the extractive answerer reads, and nothing else of the index.

The answerer scores the sentences of retrieved passages. For that it needs
each sentence with its vector, the sentences of each chunk, the chunk vectors
(a sentence is read in its passage), term postings over sentences and over
their scope (the paragraph and the one before: quotes are attributed there),
the word neighbours made at build time, and the thesaurus for readers' words
that no article uses (`rag.models.thesaurus`). All of it is derived here once per
loaded build, so the answerer never reaches into the store (`rag.index.chunk_store`) or the build's files.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property

import numpy as np

from rag.answer.asked import speaks
from rag.answer.attribution import scope_starts
from rag.index.chunk_store import ChunkStore
from rag.ingest.readable import TABLE_CELLS
from rag.models.terms import TermPostings, name_terms, terms, word_terms
from rag.models.vocabulary import NEIGHBOURS_PER_TERM
from rag.schema import Document, Paragraph, Sentence

SPEAKERS_REMEMBERED = 4096  # (speaker, text) verdicts kept (`SentenceStore.speaks_in`)
_CAPITALISED = re.compile(r"(?<=[a-z,;:] )[A-Z][A-Za-z-]+|\b[A-Z]{2,}\b")


class SentenceStore:
    def __init__(self, sentences: Sequence[Sentence], sentence_vectors: np.ndarray,
                 chunk_sentences: Sequence[Sequence[int]], chunk_vectors: Callable[[list[int]], np.ndarray],
                 documents: Mapping[str, Document], neighbours: Mapping[str, Sequence[tuple[str, float]]],
                 thesaurus: Mapping[str, Sequence[tuple[str, float]]] | None = None) -> None:
        missing = {s.doc_id for s in sentences} - set(documents)
        if missing:
            raise ValueError(f"the index cites articles that are not loaded: {sorted(missing)[:3]}")
        self.sentences = tuple(sentences)
        self.vectors = sentence_vectors
        self.chunk_sentences = chunk_sentences
        # A function, not an array: the vector index already holds them, and a copy would double the memory.
        self.chunk_vectors = chunk_vectors
        self.documents = documents
        self.neighbours = neighbours
        self.thesaurus = thesaurus or {}
        self._from_thesaurus: dict[str, tuple[tuple[str, float], ...]] = {}
        listed = [terms(s.clean) for s in self.sentences]
        sentence_terms = [frozenset(ts) for ts in listed]
        self.postings = TermPostings(sentence_terms)
        df = Counter(t for ts in sentence_terms for t in ts)
        n = max(len(sentence_terms), 1)
        self.idf = {t: math.log(1 + n / count) for t, count in df.items()}
        self.unseen_idf = math.log(1 + n)
        # What BM25 reads of a sentence (`rag.answer.signals`), kept so a question never tokenizes its candidates
        # again: its length in terms, and the few terms it holds more than once (every other held term, once).
        self.term_count = [len(ts) for ts in listed]
        self.repeats = {(i, t): c for i, (ts, held) in enumerate(zip(listed, sentence_terms, strict=True))
                        if len(held) < len(ts) for t, c in Counter(ts).items() if c > 1}
        self.mean_terms = sum(map(len, sentence_terms)) / n or 1.0  # BM25's average length (`rag.answer.signals`)
        # A sentence's scope is its paragraph and those its attribution may sit in (`rag.answer.attribution`):
        # quotes are attributed there ("…," Kashin concluded), and "He also warned…" continues them.
        scope_of: dict[tuple[str, int], str] = {}
        for document in documents.values():
            body = [p.clean or p.text for p in document.body]
            for paragraph, start, i in zip(document.body, scope_starts(body), range(len(body)), strict=True):
                scope_of[document.doc_id, paragraph.n] = " ".join(body[start:i + 1])
        self.scope_text = [scope_of.get((s.doc_id, s.paragraph), s.clean) for s in self.sentences]
        self.scope_postings = TermPostings([frozenset(terms(text)) for text in self.scope_text])
        self.document_text = {d.doc_id: " ".join(p.clean or p.text for p in d.body) for d in documents.values()}
        self._speaks: dict[tuple[str, str], bool] = {}  # keyed by the store's own strings, whose hashes Python keeps
        # Terms the articles write capitalised mid-sentence name someone or something ("Kashin", "Sweden"):
        # a sentence whose paragraph lacks a name the question asks about answers another question.
        self.name_terms = name_terms(s.clean for s in self.sentences)
        # Names as the articles write them, for a refusal that says what they do mention.
        self.names = {m.group(0).lower(): m.group(0) for s in self.sentences for m in _CAPITALISED.finditer(s.clean)}
        # Those that are names wherever they stand, for a question typed in lower case (`reading.truecased`):
        # "kashin" → "Kashin", not "may" → "May".
        self.name_words = {lower: written for lower, written in self.names.items()
                           if (found := word_terms(lower)) and all(t in self.name_terms for t in found)}

    @cached_property
    def heading_terms(self) -> list[frozenset[str]]:
        """Per sentence, the words it is headed by: its page's title and the heading of its section. A wiki answers
        under a heading that names the topic ("Loan periods and charges") in rows that do not ("DVDs | 1 week").
        Made when first asked for (only the learned answerer reads them), once per section, not per paragraph."""
        headed: dict[tuple[str, int], frozenset[str]] = {}
        for document in self.documents.values():
            section = frozenset(terms(document.title))
            for paragraph in document.paragraphs:
                if paragraph.kind == "heading":
                    section = frozenset(terms(f"{document.title} {paragraph.clean or paragraph.text}"))
                elif paragraph.kind == "body":
                    headed[document.doc_id, paragraph.n] = section
        return [headed.get((s.doc_id, s.paragraph), frozenset()) for s in self.sentences]

    @cached_property
    def table_header(self) -> np.ndarray:
        """Per sentence, whether it is a table's first row: the row that names the columns ("Week starting |
        Primary | Secondary") shares the words of questions about the table and answers none of them."""
        first_rows: set[tuple[str, int]] = set()
        for document in self.documents.values():
            in_table = False
            for paragraph in document.paragraphs:
                is_row = paragraph.kind == "body" and _is_table_row(document.raw, paragraph)
                if is_row and not in_table:
                    first_rows.add((document.doc_id, paragraph.n))
                in_table = is_row if paragraph.kind != "boilerplate" else in_table
        return np.array([(s.doc_id, s.paragraph) in first_rows for s in self.sentences], dtype=bool)

    @cached_property
    def paragraph_index(self) -> np.ndarray:
        """Per sentence, a number its paragraph's sentences share with no other sentence: the learned answerer's
        signals read a candidate's neighbours in its paragraph by it, for some forty candidates a question."""
        numbered: dict[tuple[str, int], int] = {}
        return np.array([numbered.setdefault((s.doc_id, s.paragraph), len(numbered)) for s in self.sentences],
                        dtype=np.int64)

    @classmethod
    def from_index(cls, store: ChunkStore, documents: Mapping[str, Document],
                   thesaurus: Mapping[str, Sequence[tuple[str, float]]] | None = None) -> SentenceStore:
        """The sentences of the build `store` serves (FAISS or Milvus: `rag.index.chunk_store`)."""
        return cls(store.sentences, store.sentence_vectors, store.chunk_sentences, store.chunk_vectors, documents,
                   store.neighbours, thesaurus)

    def neighbours_of(self, term: str, thesaurus: bool = True) -> Sequence[tuple[str, float]]:
        """The article terms that stand for `term`, with their cosine.

        A term the articles use has its build-time neighbours (`rag.models.vocabulary`). One they do not use takes
        its first thesaurus neighbours that they hold and that are no names ("faster" → "quick"), when
        `thesaurus` allows it: a name the reader typed has no stand-ins.
        """
        own = self.neighbours.get(term)
        if own is not None or not thesaurus or term not in self.thesaurus:
            return own or ()
        # Remembered for the thesaurus's terms only, so a stream of made-up words cannot grow it.
        found = self._from_thesaurus.get(term)
        if found is None:
            found = () if self.postings.holding(term) else tuple(
                (n, c) for n, c in self.thesaurus.get(term, ())
                if n not in self.name_terms and self.postings.holding(n))[:NEIGHBOURS_PER_TERM]
            self._from_thesaurus[term] = found
        return found

    def speaks_in(self, speaker: str, text: str) -> bool:
        """Whether `speaker` acts in `text`, one of this store's documents or scopes (`rag.answer.asked.speaks`).
        Remembered: they are the longest texts a question's signals scan, and a conversation keeps asking about
        one speaker ("what did China say?", "and why?"). Bounded, so a stream of made-up names cannot grow it."""
        key = (speaker, text)
        found = self._speaks.get(key)
        if found is None:
            if len(self._speaks) >= SPEAKERS_REMEMBERED:
                self._speaks.clear()
            found = self._speaks[key] = speaks(speaker, text)
        return found

    def span_ids(self, sentence_id: int) -> list[int]:
        """The sentence, plus the next one when it ends with a colon that introduces it."""
        ids = [sentence_id]
        following = sentence_id + 1
        if self.sentences[sentence_id].clean.endswith(":") and following < len(self.sentences) \
                and self.sentences[following].doc_id == self.sentences[sentence_id].doc_id:
            ids.append(following)
        return ids

    def span_text(self, sentence_id: int) -> str:
        return " ".join(self.sentences[i].clean for i in self.span_ids(sentence_id))


def _is_table_row(raw: str, paragraph: Paragraph) -> bool:
    """Whether the page readers made `paragraph` of a table row's cells, which they join with " | ": the raw text
    holds HTML cell tags, or is a Markdown line opening with a pipe. A pipe in prose is neither."""
    if TABLE_CELLS not in (paragraph.clean or paragraph.text):
        return False
    line_start = raw.rfind("\n", 0, paragraph.start) + 1
    return "</t" in paragraph.text or raw[line_start:paragraph.start].strip().startswith("|")
