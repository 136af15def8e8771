"""`Retriever.search`: dense (FAISS) and lexical (BM25) search, fused and diversified.

Dense search finds paraphrases; BM25 finds names and numbers that a small
embedding model blurs ("Danish Embassy", "207 companies"). Their rankings are
fused by reciprocal rank (scores of the two are not comparable, ranks are).
The top k is then diversified: no article may hold more than `max_per_doc`
places while other articles still have candidates, so an answer spread over
several articles is not crowded out by the most verbose one.
"""

from __future__ import annotations

import numpy as np

from rag.embedding import Embedder
from rag.index import LoadedIndex
from rag.schema import Passage
from rag.terms import family_in, terms


class Retriever:
    def __init__(self, index: LoadedIndex, embedder: Embedder, candidates: int = 50, rrf_k: int = 60,
                 max_per_doc: int = 3) -> None:
        if index.chunk_vectors.d != embedder.dimension:
            raise ValueError(f"index dimension {index.chunk_vectors.d} != model dimension {embedder.dimension}")
        self.index = index
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.max_per_doc = max_per_doc
        # Sorted once, so a word-family lookup is a bisection, not a scan.
        self._sorted_vocabulary = sorted(index.bm25.vocab_dict)

    def search(self, question: str, k: int, listed: int = 0, query_vector: np.ndarray | None = None,
               lexical: list[int] | None = None) -> list[Passage]:
        """The best `max(k, listed)` passages; the first `k` are diversified across articles.

        `query_vector` and `lexical` (from `lexical_ranking`) may be computed by
        the caller, e.g. at the same time as each other.
        """
        if query_vector is None:
            query_vector = self.embedder.encode_query(question)
        if lexical is None:
            lexical = self.lexical_ranking(question)
        fused = self._fuse(self._dense(query_vector), lexical)
        order = self._diversify(sorted(fused, key=lambda i: -fused[i]), k)
        total = min(max(k, listed), len(order))
        return [Passage(chunk=self.index.chunks[i], score=fused[i], rank=rank)
                for rank, i in enumerate(order[:total], start=1)]

    def _dense(self, query_vector: np.ndarray) -> list[int]:
        n = min(self.candidates, self.index.chunk_vectors.ntotal)
        if n == 0:
            return []
        _, ids = self.index.chunk_vectors.search(query_vector.reshape(1, -1), n)
        # FAISS pads with -1 when it finds fewer than asked; those are no chunk.
        return [int(i) for i in ids[0] if i >= 0]

    def lexical_ranking(self, question: str) -> list[int]:
        """Chunk ids by BM25 score, best first; chunks sharing no term are left out."""
        vocabulary = self.index.bm25.vocab_dict
        query = [t for t in self._expand(terms(question)) if t in vocabulary]
        if not query:
            return []
        n = min(self.candidates, len(self.index.chunks))
        ids, scores = self.index.bm25.retrieve([query], k=n, show_progress=False, n_threads=1)
        return [int(i) for i, s in zip(ids[0], scores[0], strict=True) if s > 0]

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
            doc_id = self.index.chunks[chunk_id].doc_id
            if len(chosen) < k and per_doc.get(doc_id, 0) >= self.max_per_doc:
                deferred.append(chunk_id)
                continue
            chosen.append(chunk_id)
            per_doc[doc_id] = per_doc.get(doc_id, 0) + 1
        # Deferred chunks keep their fused order after the diversified head.
        position = {chunk_id: i for i, chunk_id in enumerate(ranked)}
        return chosen[:k] + sorted(deferred + chosen[k:], key=position.__getitem__)
