"""`MilvusChunkStore`: a build published in Milvus, read as the `ChunkStore` retrieval and answering use.

Searches go to Milvus on every question: dense (HNSW), BM25, and the chunk
vectors of the speaker ranking and of the answerer. What must see every chunk
or sentence at once is loaded into the server when the build is opened: the
chunks (the speaker postings and the diversification read all of them), the
sentences with their vectors and which chunks hold them (the answerer's term
postings are over all sentences). That is about 2 KB a sentence in memory, so
a server holds a few million sentences at most; docs/DEPLOY.md says so.

Chunk and sentence text is cut from the article files, as the FAISS store
does, so a citation's `raw[start:end] == text` holds whatever Milvus returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from rag.index.stores import milvus_layout as layout
from rag.index.stores.milvus_link import MilvusLink
from rag.index.stores.milvus_store import MilvusStore
from rag.schema import Chunk, Document, IndexCorruptError, Sentence, StaleIndexError

PAGE_ROWS = 2_000  # rows of one query while loading: ~3 MB with sentence vectors, far below gRPC's limit
LOAD_TIMEOUT_S = 120.0  # a page of a large build, not a question's few seconds


class MilvusChunkStore:
    def __init__(self, store: MilvusStore, chunks: tuple[Chunk, ...], sentences: tuple[Sentence, ...],
                 sentence_vectors: np.ndarray, chunk_sentences: tuple[tuple[int, ...], ...]) -> None:
        """Use `MilvusChunkStore.open`."""
        self.milvus = store
        self.build_id = store.build_id
        self.manifest = store.manifest
        self.neighbours = store.neighbours
        self.vocabulary = store.vocabulary
        self.dimension = store.dimension
        self.chunks = chunks
        self.sentences = sentences
        self.sentence_vectors = sentence_vectors
        self.chunk_sentences = chunk_sentences

    @classmethod
    def open(cls, link: MilvusLink, documents: Mapping[str, Document], model_sha256: str, dimension: int,
             namespace: str = layout.NAMESPACE) -> MilvusChunkStore:
        """The build `<namespace>_current` names, its chunks and sentences loaded; `documents` are the articles."""
        store = MilvusStore.open(link, namespace, model_sha256, dimension)
        if set(store.manifest.get("documents", {})) != set(documents):
            raise StaleIndexError(f"Milvus build {store.build_id} was made from other articles; "
                                  "run `python -m rag index` to publish the corpus's build")
        names = layout.BuildNames(namespace, store.build_id)
        chunks = tuple(Chunk(chunk_id=row["chunk_id"], doc_id=row["doc_id"], paragraph=row["paragraph"],
                             start=row["start"], end=row["end"], clean=row["clean"],
                             text=documents[row["doc_id"]].raw[row["start"]:row["end"]])
                       for row in _rows(link, names.chunks, "chunk_id", store.manifest["counts"]["chunks"],
                                        layout.CHUNK_FIELDS))
        sentence_rows = list(_rows(link, names.sentences, "sentence_id", store.manifest["counts"]["sentences"],
                                   [*layout.SENTENCE_FIELDS, "chunk_ids"]))
        sentences = tuple(Sentence(doc_id=row["doc_id"], paragraph=row["paragraph"], start=row["start"],
                                   end=row["end"], clean=row["clean"],
                                   text=documents[row["doc_id"]].raw[row["start"]:row["end"]])
                          for row in sentence_rows)
        vectors = np.array([row["vector"] for row in sentence_rows], dtype=np.float32).reshape(len(sentences),
                                                                                               store.dimension)
        of_chunk: list[list[int]] = [[] for _ in chunks]
        for row in sentence_rows:
            for chunk_id in row["chunk_ids"]:
                of_chunk[chunk_id].append(row["sentence_id"])
        return cls(store, chunks, sentences, vectors, tuple(tuple(ids) for ids in of_chunk))

    def dense(self, vector: np.ndarray, n: int) -> list[int]:
        return self.milvus.dense(vector, min(n, len(self.chunks)))

    def lexical(self, terms: Sequence[str], n: int) -> list[int]:
        return self.milvus.lexical(terms, min(n, len(self.chunks)))

    def chunk_vectors(self, ids: Iterable[int]) -> np.ndarray:
        return self.milvus.chunk_vectors(ids)

    def current_build_id(self) -> str | None:
        return self.milvus.current_build_id()

    def check(self) -> None:
        self.milvus.current_build_id()


def _rows(link: MilvusLink, collection: str, key: str, count: int, fields: list[str]) -> Iterator[dict[str, Any]]:
    """Rows 0 to count-1 by their id `key`, in id order, a page at a time; a missing row is a broken build."""
    for start in range(0, count, PAGE_ROWS):
        end = min(start + PAGE_ROWS, count)
        page = link.call("query", collection_name=collection, filter=f"{key} >= {start} and {key} < {end}",
                         output_fields=fields, limit=end - start, timeout=LOAD_TIMEOUT_S)
        page = sorted(page, key=lambda row: row[key])
        if [row[key] for row in page] != list(range(start, end)):
            raise IndexCorruptError(f"Milvus collection {collection} lacks rows between ids {start} and {end - 1}; "
                                    f"publish the index again with `python -m rag milvus-import --uri {link.address}`")
        yield from page
