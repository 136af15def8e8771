"""`ChunkStore`: what retrieval and the sentence store read of an index build, whichever store holds it.

Two stores serve it: `FaissChunkStore` (the build folder of `index/`, loaded
into the process: the default) and `rag.index.stores.milvus_chunk_store`
(a build published in a Milvus shared by several servers). `Retriever` and
`SentenceStore` take a `ChunkStore` and never learn which one it is.

Both stores break ties in a ranking by chunk id (the lower first), so equal
scores (one shared rare word, a repeated paragraph) fuse the same way in both
and answers do not depend on the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.index.files import LoadedIndex, current_build
from rag.models.vocabulary import Neighbours
from rag.schema import Chunk, Sentence


class ChunkStore(Protocol):
    build_id: str
    manifest: Mapping[str, Any]
    chunks: tuple[Chunk, ...]  # chunk i has chunk_id i
    sentences: tuple[Sentence, ...]
    sentence_vectors: np.ndarray  # float32 (sentences, dimension)
    chunk_sentences: tuple[tuple[int, ...], ...]  # sentence ids of each chunk
    neighbours: Neighbours
    vocabulary: tuple[str, ...]  # the BM25 terms, sorted: word families are found by bisection
    dimension: int

    def dense(self, vector: np.ndarray, n: int) -> list[int]:
        """At most `n` chunk ids by inner product with `vector`, best first."""

    def lexical(self, terms: Sequence[str], n: int) -> list[int]:
        """At most `n` chunk ids by BM25 over `terms` (vocabulary terms), best first; no shared term, no chunk."""

    def chunk_vectors(self, ids: Iterable[int]) -> np.ndarray:
        """float32 (len(ids), dimension), in the order of `ids`."""

    def current_build_id(self) -> str | None:
        """The build the store publishes now; differs from `build_id` once a new one is published."""

    def check(self) -> None:
        """Raise `StoreUnavailableError` when the store cannot serve (for the health check)."""


def ties_by_id(ids: Sequence[int], scores: Sequence[float]) -> list[int]:
    """`ids`, ranked best first by their store, with each run of equal scores in chunk-id order.

    Only the rank order of the store is trusted (Milvus Lite reports BM25 scores negated), so a run is
    "the same score as the hit before", whatever the sign.
    """
    first_rank: dict[float, int] = {}
    keyed = [(first_rank.setdefault(float(score), rank), int(chunk_id))
             for rank, (chunk_id, score) in enumerate(zip(ids, scores, strict=True))]
    return [chunk_id for _, chunk_id in sorted(keyed)]


class FaissChunkStore:
    """A build of the index folder, loaded in memory (`rag.index.files.load_index`)."""

    def __init__(self, index: LoadedIndex, index_dir: Path) -> None:
        self.index = index
        self.index_dir = index_dir
        self.build_id = index.build_id
        self.manifest = index.manifest
        self.chunks = index.chunks
        self.sentences = index.sentences
        self.sentence_vectors = index.sentence_vectors
        self.chunk_sentences = index.chunk_sentences
        self.neighbours = index.neighbours
        # bm25s keeps an empty token of its own; no query term is ever empty.
        self.vocabulary = tuple(sorted(t for t in index.bm25.vocab_dict if t))
        self.dimension = index.chunk_vectors.d

    def dense(self, vector: np.ndarray, n: int) -> list[int]:
        n = min(n, self.index.chunk_vectors.ntotal)
        if n < 1:
            return []
        scores, ids = self.index.chunk_vectors.search(vector.reshape(1, -1), n)
        # FAISS pads with -1 when it finds fewer than asked; those are no chunk.
        found = ids[0] >= 0
        return ties_by_id(ids[0][found].tolist(), scores[0][found].tolist())

    def lexical(self, terms: Sequence[str], n: int) -> list[int]:
        n = min(n, len(self.chunks))
        if n < 1 or not terms:
            return []
        ids, scores = self.index.bm25.retrieve([list(terms)], k=n, show_progress=False, n_threads=1)
        hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0]
        return ties_by_id([i for i, _ in hits], [s for _, s in hits])

    def chunk_vectors(self, ids: Iterable[int]) -> np.ndarray:
        return self.index.chunk_vectors.reconstruct_batch(list(ids))

    def current_build_id(self) -> str | None:
        build = current_build(self.index_dir)
        return build.name if build is not None else None

    def check(self) -> None:
        """The build is in memory: nothing can be lost while serving."""
