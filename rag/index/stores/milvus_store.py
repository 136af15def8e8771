"""`MilvusStore`: one published build in Milvus, read through the store interface retrieval and answering use.

A store is pinned to the build `<ns>_current` named when it was opened, so
every id it hands out belongs to that build; `current_build_id()` says when
the alias has moved on, and the caller opens a new store (the watch loop's
job). Opening checks that Milvus holds as many chunks and sentences as the
build's manifest says, so a collection still being written is never served
(the alias only moves after that check in `publish`, and the check is
repeated here for an alias set by hand).

Every method is one or two round trips to Milvus, bounded by the link's
timeout; a lost server raises `StoreUnavailableError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from rag.index.chunk_store import ties_by_id
from rag.index.stores import milvus_layout as layout
from rag.index.stores.milvus_link import MilvusLink
from rag.index.stores.milvus_publish import aliased_builds, count_rows
from rag.models.vocabulary import Neighbours
from rag.schema import Chunk, IndexCorruptError, IndexMissingError, Sentence, StaleIndexError

QUERY_LIMIT = 16_384  # Milvus's largest result window for one query


class MilvusStore:
    def __init__(self, link: MilvusLink, namespace: str, build_id: str, manifest: dict[str, Any],
                 neighbours: Neighbours, vocabulary: tuple[str, ...]) -> None:
        """Use `MilvusStore.open`, which reads and checks the build."""
        self.link = link
        self.namespace = namespace
        self.build_id = build_id
        self.manifest = manifest
        self.neighbours = neighbours
        self.vocabulary = vocabulary  # sorted: the BM25 terms, for word-family lookups by bisection
        self.dimension = int(manifest["model"]["dimension"])
        self._names = layout.BuildNames(namespace, build_id)

    @classmethod
    def open(cls, link: MilvusLink, namespace: str = layout.NAMESPACE, model_sha256: str | None = None,
             dimension: int | None = None) -> MilvusStore:
        """The build `<namespace>_current` names, after checking its row counts (and the model, when given)."""
        layout.check_namespace(namespace)
        build_id = aliased_builds(link, namespace).get(layout.current_alias(namespace))
        if build_id is None:
            raise IndexMissingError(f"no index is published in Milvus at {link.address} (no alias "
                                    f"{layout.current_alias(namespace)}); run `python -m rag milvus-import "
                                    f"--uri {link.address}` to move the FAISS index there")
        names = layout.BuildNames(namespace, build_id)
        parts: dict[str, list[tuple[str, str]]] = {}
        for row in link.call("query", collection_name=names.meta, filter='key != ""', output_fields=["key", "value"],
                             limit=QUERY_LIMIT):
            name, _, number = row["key"].partition("/")
            parts.setdefault(name, []).append((number, row["value"]))
        try:
            meta = {name: json.loads("".join(value for _, value in sorted(pieces))) for name, pieces in parts.items()}
            manifest, neighbours, vocabulary = meta["manifest"], meta["neighbours"], meta["vocabulary"]
        except (KeyError, json.JSONDecodeError) as err:
            raise IndexCorruptError(f"the metadata of Milvus build {build_id} is unreadable ({err}); "
                                    "publish the index again with `python -m rag milvus-import`") from None
        fix = f"publish a complete build with `python -m rag milvus-import --uri {link.address}`"
        for collection, expected in ((names.chunks, manifest["counts"]["chunks"]),
                                     (names.sentences, manifest["counts"]["sentences"])):
            held = count_rows(link, collection)
            if held != expected:
                raise IndexCorruptError(f"Milvus holds {held} rows of {collection}, its manifest says {expected}; {fix}")
        built = manifest["model"]
        if model_sha256 is not None and built["sha256"] != model_sha256:
            raise StaleIndexError(f"Milvus build {build_id} was made with other model weights "
                                  f"(sha256 {str(built['sha256'])[:12]}…, loaded model {model_sha256[:12]}…); {fix}")
        if dimension is not None and built["dimension"] != dimension:
            raise IndexCorruptError(f"Milvus build {build_id} has dimension {built['dimension']}, the model gives "
                                    f"{dimension}; {fix}")
        return cls(link, namespace, build_id, manifest,
                   {term: tuple((str(n), float(s)) for n, s in close) for term, close in neighbours.items()},
                   tuple(sorted(vocabulary)))

    def current_build_id(self) -> str | None:
        """The build the alias names now (None when none is published): differs from `build_id` after a publication."""
        return aliased_builds(self.link, self.namespace).get(layout.current_alias(self.namespace))

    def dense(self, vector: np.ndarray, n: int) -> list[int]:
        """Chunk ids by inner product with `vector` (HNSW), best first."""
        if n < 1:
            return []
        n = min(n, QUERY_LIMIT)
        hits = self.link.call("search", collection_name=self._names.chunks,
                              data=[np.asarray(vector, dtype=np.float32).reshape(-1).tolist()], anns_field="vector",
                              limit=n, output_fields=[],
                              search_params={"metric_type": "IP", "params": {"ef": max(n, layout.HNSW_EF_SEARCH)}})
        return ties_by_id([int(hit["chunk_id"]) for hit in hits[0]], [float(hit["distance"]) for hit in hits[0]])

    def lexical(self, terms: Sequence[str], n: int) -> list[int]:
        """Chunk ids by BM25 over `terms` (as `terms.terms` makes them), best first; no shared term, no chunk."""
        if n < 1 or not terms:
            return []
        hits = self.link.call("search", collection_name=self._names.chunks, data=[" ".join(terms)], anns_field="bm25",
                              limit=min(n, QUERY_LIMIT), output_fields=[], search_params={"metric_type": "BM25"})
        # Equal scores are common (one shared rare word); the lower chunk id goes first, so a ranking does not
        # depend on segment order. Milvus Lite gives the score negated, Milvus itself as it is: its size ranks.
        scored = sorted((-abs(float(hit["distance"])), int(hit["chunk_id"])) for hit in hits[0])
        return [chunk_id for _, chunk_id in scored]

    def chunks(self, ids: Iterable[int]) -> list[Chunk]:
        """The chunks of `ids`, in that order."""
        ids = [int(i) for i in ids]
        rows = self._get(self._names.chunks, ids, layout.CHUNK_FIELDS)
        return [Chunk(chunk_id=i, doc_id=rows[i]["doc_id"], paragraph=rows[i]["paragraph"], start=rows[i]["start"],
                      end=rows[i]["end"], text=rows[i]["text"], clean=rows[i]["clean"]) for i in ids]

    def chunk_vectors(self, ids: Iterable[int]) -> np.ndarray:
        """float32 (len(ids), dimension): the vectors of `ids`, in that order."""
        ids = [int(i) for i in ids]
        rows = self._get(self._names.chunks, ids, ["chunk_id", "vector"])
        return np.array([rows[i]["vector"] for i in ids], dtype=np.float32).reshape(len(ids), self.dimension)

    def sentences_of(self, chunk_ids: Iterable[int]) -> tuple[list[tuple[int, Sentence]], np.ndarray]:
        """The sentences lying in any of `chunk_ids`, by sentence id, and their vectors (float32, same order)."""
        chunk_ids = sorted({int(i) for i in chunk_ids})
        if not chunk_ids:
            return [], np.zeros((0, self.dimension), dtype=np.float32)
        rows = self.link.call("query", collection_name=self._names.sentences,
                              filter=f"array_contains_any(chunk_ids, {chunk_ids})", output_fields=layout.SENTENCE_FIELDS,
                              limit=QUERY_LIMIT)
        rows = sorted(rows, key=lambda row: row["sentence_id"])
        sentences = [(int(row["sentence_id"]), Sentence(doc_id=row["doc_id"], paragraph=row["paragraph"],
                                                        start=row["start"], end=row["end"], text=row["text"],
                                                        clean=row["clean"]))
                     for row in rows]
        vectors = np.array([row["vector"] for row in rows], dtype=np.float32).reshape(len(rows), self.dimension)
        return sentences, vectors

    def _get(self, collection: str, ids: list[int], fields: list[str]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = {int(row[fields[0]]): row
                for row in self.link.call("get", collection_name=collection, ids=sorted(set(ids)), output_fields=fields)}
        missing = sorted(set(ids) - set(rows))
        if missing:
            raise IndexCorruptError(f"Milvus build {self.build_id} has no row {missing[:5]} in {collection}; "
                                    f"publish the index again with `python -m rag milvus-import --uri {self.link.address}`")
        return rows
