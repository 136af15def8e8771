"""`Retriever.search`: dense and lexical (BM25) search, fused and diversified.

Dense search finds paraphrases; BM25 finds names and numbers that a small
embedding model blurs ("Danish Embassy", "207 companies"). Their rankings are
fused by reciprocal rank (scores of the two are not comparable, ranks are).
The top k is then diversified: no article may hold more than `max_per_doc`
places while other articles still have candidates, so an answer spread over
several articles is not crowded out by the most verbose one.

A follow-up is searched with the turn it leans on: the reading's own vector
counts fully and the earlier question's at `FOLLOWUP_WEIGHT`; BM25 gets the
reading, the earlier question and its answer. The retriever owns all of this,
query encoding included: to change how questions are searched, change this
module. The index is read through `ChunkStore` (rag/index/chunk_store.py): FAISS in
the process or a shared Milvus, the retriever does not know which.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor

import faiss
import numpy as np

from rag.answer.asked import asked, written_forms, without_attribution
from rag.answer.attribution import scope_starts
from rag.index.chunk_store import ChunkStore
from rag.models.embedding import Embedder
from rag.models.terms import TermPostings, family_in, name_terms, terms
from rag.schema import Chunk, Passage, Reading, Retrieval

FOLLOWUP_WEIGHT = 0.6  # weight of the previous question's vector in a follow-up's query
STANDALONE_FOLLOWUP_WEIGHT = 0.3  # the same, once "he" is named or "When?" completed: it needs less of the turn
MAX_ATTRIBUTED = 2_000  # chunks attributed to one speaker that are compared with the question, at most


def search_on_one_thread() -> None:
    """Called by processes that answer questions (the CLI's ask, eval and serve), never on import.

    One query searches a few thousand vectors at most before HNSW takes over; FAISS's threads cost more to
    start than they save there, and concurrent requests already use both cores (measured in benchmarks/).
    The setting is process-wide, so it is the program's choice, not a library object's.
    """
    faiss.omp_set_num_threads(1)


class Retriever:
    def __init__(self, store: ChunkStore, embedder: Embedder, lexical_pool: Executor, candidates: int = 50,
                 rrf_k: int = 60, max_per_doc: int = 3) -> None:
        """`lexical_pool` runs BM25 while the model encodes (torch releases the GIL), so the lexical half of
        retrieval costs no wall time; it is the caller's, shared by the retrievers of successive builds."""
        if store.dimension != embedder.dimension:
            raise ValueError(f"index dimension {store.dimension} != model dimension {embedder.dimension}")
        self.store = store
        self.embedder = embedder
        self.lexical_pool = lexical_pool
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.max_per_doc = max_per_doc
        # Sorted once, so a word-family lookup is a bisection, not a scan.
        self._sorted_vocabulary = store.vocabulary
        self._vocabulary = frozenset(store.vocabulary)
        self._attributed = _attribution_postings(store.chunks)

    def search(self, reading: Reading, k: int, listed: int = 0) -> Retrieval:
        """The best `max(k, listed)` passages for `reading`; the first `k` are diversified across articles."""
        started = time.perf_counter()
        search_text = " ".join(part for part in (reading.text, reading.context, reading.earlier_answer) if part)
        lexical = self.lexical_pool.submit(self.lexical_ranking, search_text)
        # Whose words are sought is the speaker ranking's business; the vector is of what they say.
        vector = self.embedder.encode_query(without_attribution(reading.text))
        if reading.context:
            # A question made to stand alone ("What did Li Shangfu say…") needs less of the turn before.
            weight = STANDALONE_FOLLOWUP_WEIGHT if reading.rewritten else FOLLOWUP_WEIGHT
            vector = vector + weight * self.embedder.encode_query(reading.context)
            vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        embedded = time.perf_counter()
        fused = self._fuse(self._dense(vector), lexical.result(), self._speaker_ranking(reading.text, vector))
        order = self._diversify(sorted(fused, key=lambda i: -fused[i]), k)
        total = min(max(k, listed), len(order))
        passages = tuple(Passage(chunk=self.store.chunks[i], score=fused[i], rank=rank)
                         for rank, i in enumerate(order[:total], start=1))
        timings = {"embed": (embedded - started) * 1000, "retrieve": (time.perf_counter() - embedded) * 1000}
        return Retrieval(passages, k, vector, timings)

    def _dense(self, query_vector: np.ndarray) -> list[int]:
        return self.store.dense(query_vector, self.candidates)

    def _speaker_ranking(self, question: str, vector: np.ndarray) -> list[int]:
        """For "…, according to Kashin?": the chunks in whose scope Kashin is named, closest first.

        Neither ranking finds them otherwise: the name is often a paragraph or two away from the words that
        answer ("He also expressed…"), so BM25 misses it and the dense vector of a quote never had it.
        """
        # The names the speaker check reads, each whole: "Kashin" for Vasily Kashin, China for Beijing, and
        # "United" alone is not the United States.
        held = [frozenset.intersection(*map(self._attributed.holding, form_terms))
                for form in written_forms(asked(question).speaker) if (form_terms := terms(form))]
        ids = sorted(frozenset().union(*held))[:MAX_ATTRIBUTED]
        if not ids:
            return []
        cosines = self.store.chunk_vectors(ids) @ vector
        return [ids[i] for i in np.argsort(-cosines, kind="stable")[:self.candidates]]

    def lexical_ranking(self, question: str) -> list[int]:
        """Chunk ids by BM25 score, best first; chunks sharing no term are left out."""
        query = [t for t in self._expand(terms(question)) if t in self._vocabulary]
        return self.store.lexical(query, self.candidates) if query else []

    def _expand(self, query: list[str]) -> list[str]:
        """Query terms plus the corpus terms of the same word family ("opposed" finds "opposition")."""
        return list(dict.fromkeys(query + [t for term in query for t in family_in(term, self._sorted_vocabulary)]))

    def _fuse(self, *rankings: list[int]) -> dict[int, float]:
        fused: dict[int, float] = {}
        for ranking in rankings:
            for rank, chunk_id in enumerate(ranking, start=1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (self.rrf_k + rank)
        return fused

    def _diversify(self, ranked: list[int], k: int) -> list[int]:
        chosen: list[int] = []
        per_doc: dict[str, int] = {}
        deferred: list[int] = []
        for chunk_id in ranked:
            doc_id = self.store.chunks[chunk_id].doc_id
            if len(chosen) < k and per_doc.get(doc_id, 0) >= self.max_per_doc:
                deferred.append(chunk_id)
                continue
            chosen.append(chunk_id)
            per_doc[doc_id] = per_doc.get(doc_id, 0) + 1
        # Deferred chunks keep their fused order after the diversified head.
        position = {chunk_id: i for i, chunk_id in enumerate(ranked)}
        return chosen[:k] + sorted(deferred + chosen[k:], key=position.__getitem__)


def _attribution_postings(chunks: tuple[Chunk, ...]) -> TermPostings:
    """Each chunk's names, and those of the paragraphs its attribution may sit in (`rag.answer.attribution`)."""
    names = name_terms(c.clean for c in chunks)
    by_doc: dict[str, dict[int, list[Chunk]]] = {}
    for chunk in chunks:
        by_doc.setdefault(chunk.doc_id, {}).setdefault(chunk.paragraph, []).append(chunk)
    scope: list[frozenset[str]] = [frozenset()] * len(chunks)
    for paragraphs in by_doc.values():
        order = sorted(paragraphs)
        named = [frozenset(t for c in paragraphs[p] for t in terms(c.clean) if t in names) for p in order]
        for i, start in enumerate(scope_starts([" ".join(c.clean for c in paragraphs[p]) for p in order])):
            in_scope = frozenset().union(*named[start:i + 1])
            for chunk in paragraphs[order[i]]:
                scope[chunk.chunk_id] = in_scope
    return TermPostings(scope)
