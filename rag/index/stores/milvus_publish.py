"""Writing a complete build into Milvus and publishing it by switching one alias.

`publish` writes the three collections of a new build (rag/index/stores/milvus_layout.py),
flushes them, checks that Milvus counts every row, and only then points
`<ns>_current` at it; the build it replaces becomes `<ns>_previous`. Builds
older than the new one that no alias names (the one before the previous, or
what a crashed publisher left) are dropped. A failure before the switch
drops the new build's collections and leaves the served build untouched.

`build_data` takes a loaded FAISS build (`rag.index.files.load_index`), which is how
an existing index moves into Milvus; an index builder can fill `BuildData`
from its in-memory arrays as well.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.index.files import LoadedIndex
from rag.index.stores import milvus_layout as layout
from rag.index.stores.milvus_link import MilvusLink
from rag.models.terms import tokenize
from rag.models.vocabulary import Neighbours
from rag.schema import Chunk, CorpusError, IndexCorruptError, Sentence, StoreUnavailableError

BATCH_ROWS = 500  # rows per insert: ~1 MB of 384-dim vectors, far below gRPC's message limit
WRITE_TIMEOUT_S = 600.0  # flushing and indexing a large build takes minutes, not the seconds a search gets


@dataclass(frozen=True)
class BuildData:
    """Everything a build holds, as `build_index` produces it; row i of a vector array belongs to id i."""

    manifest: Mapping[str, Any]
    chunks: Sequence[Chunk]
    sentences: Sequence[Sentence]
    chunk_vectors: np.ndarray  # float32 (chunks, dimension), normalised
    sentence_vectors: np.ndarray  # float32 (sentences, dimension), normalised
    chunk_sentences: Sequence[Sequence[int]]  # sentence ids of each chunk
    neighbours: Neighbours

    def __post_init__(self) -> None:
        if self.chunk_vectors.shape[0] != len(self.chunks) or len(self.chunk_sentences) != len(self.chunks):
            raise ValueError(f"{len(self.chunks)} chunks, {self.chunk_vectors.shape[0]} chunk vectors and "
                             f"{len(self.chunk_sentences)} sentence lists must be as many")
        if self.sentence_vectors.shape[0] != len(self.sentences):
            raise ValueError(f"{len(self.sentences)} sentences but {self.sentence_vectors.shape[0]} sentence vectors")
        if any(chunk.chunk_id != row for row, chunk in enumerate(self.chunks)):
            raise ValueError("chunk ids must be their rows, 0 to n-1, as in chunks.jsonl")


def build_data(index: LoadedIndex) -> BuildData:
    """A loaded FAISS build as `BuildData` (flat and HNSW FAISS indexes both give their vectors back)."""
    vectors = index.chunk_vectors.reconstruct_n(0, index.chunk_vectors.ntotal)
    return BuildData(index.manifest, index.chunks, index.sentences, np.asarray(vectors, dtype=np.float32),
                     index.sentence_vectors, index.chunk_sentences, index.neighbours)


def publish(link: MilvusLink, data: BuildData, namespace: str = layout.NAMESPACE,
            progress: Callable[[str], None] = lambda message: None) -> str:
    """Write `data` as a new build, make it current, drop unaliased older builds; returns the new build id."""
    layout.check_namespace(namespace)
    names = layout.BuildNames(namespace, layout.new_build_id())
    dimension = int(data.chunk_vectors.shape[1])
    chunk_terms = tokenize([c.clean for c in data.chunks])
    meta = _meta_rows(data, names.build_id, sorted({t for terms in chunk_terms for t in terms}))
    try:
        for name, (schema, index) in ((names.chunks, layout.chunk_schema(dimension)),
                                      (names.sentences, layout.sentence_schema(dimension)),
                                      (names.meta, layout.meta_schema())):
            # The index is declared now and built as the rows arrive; the load below waits for it. Created with
            # the collection, pymilvus would wait for each index of the empty collection in half-second sleeps.
            link.call("create_collection", collection_name=name, schema=schema, timeout=WRITE_TIMEOUT_S)
            link.call("create_index", collection_name=name, index_params=index, timeout=WRITE_TIMEOUT_S,
                      sync=False)
        progress(f"writing {len(data.chunks)} chunks to {names.chunks}")
        _insert(link, names.chunks, _chunk_rows(data, chunk_terms))
        progress(f"writing {len(data.sentences)} sentences to {names.sentences}")
        _insert(link, names.sentences, _sentence_rows(data))
        _insert(link, names.meta, iter(meta))
        expected = {names.chunks: len(data.chunks), names.sentences: len(data.sentences), names.meta: len(meta)}
        for name, rows in expected.items():
            link.call("flush", collection_name=name, timeout=WRITE_TIMEOUT_S)
            link.call("load_collection", collection_name=name, timeout=WRITE_TIMEOUT_S)
            counted = count_rows(link, name)
            if counted != rows:
                raise IndexCorruptError(f"Milvus holds {counted} rows of {name}, {rows} were written; "
                                        "the build is not published, run the import again")
    except BaseException:
        _drop(link, names.all)
        raise
    _switch_alias(link, namespace, names.meta)
    progress(f"published {names.build_id}: alias {layout.current_alias(namespace)} -> {names.meta}")
    for dropped in drop_unaliased(link, namespace, older_than=names.build_id):
        progress(f"dropped build {dropped}: no alias names it")
    return names.build_id


def count_rows(link: MilvusLink, collection: str) -> int:
    rows = link.call("query", collection_name=collection, filter="", output_fields=["count(*)"],
                     consistency_level="Strong")
    return int(rows[0]["count(*)"])


def aliased_builds(link: MilvusLink, namespace: str) -> dict[str, str]:
    """alias -> build id, for this namespace's current and previous aliases that exist."""
    existing = set(link.call("list_aliases")["aliases"])
    found = {}
    for alias in (layout.current_alias(namespace), layout.previous_alias(namespace)):
        if alias in existing:
            target = link.call("describe_alias", alias=alias)["collection_name"]
            build = layout.build_of(namespace, target)
            if build is not None:
                found[alias] = build
    return found


def drop_unaliased(link: MilvusLink, namespace: str, older_than: str) -> list[str]:
    """Drop every build of `namespace` older than `older_than` that no alias names; returns their ids.

    Builds newer than `older_than` are left alone: one may be another publisher's, still being written.
    """
    keep = set(aliased_builds(link, namespace).values())
    by_build: dict[str, list[str]] = {}
    for collection in link.call("list_collections"):
        build = layout.build_of(namespace, collection)
        if build is not None and build < older_than and build not in keep:
            by_build.setdefault(build, []).append(collection)
    for collections in by_build.values():
        _drop(link, collections)
    return sorted(by_build)


def _switch_alias(link: MilvusLink, namespace: str, meta_collection: str) -> None:
    current, previous = layout.current_alias(namespace), layout.previous_alias(namespace)
    existing = set(link.call("list_aliases")["aliases"])
    if current not in existing:
        link.call("create_alias", collection_name=meta_collection, alias=current)
        return
    served = link.call("describe_alias", alias=current)["collection_name"]
    # The old build gets `previous` before `current` moves: at no moment does a served build lack an alias.
    link.call("alter_alias" if previous in existing else "create_alias", collection_name=served, alias=previous)
    link.call("alter_alias", collection_name=meta_collection, alias=current)


def _drop(link: MilvusLink, collections: Sequence[str]) -> None:
    for name in collections:
        try:
            link.call("drop_collection", collection_name=name, timeout=WRITE_TIMEOUT_S)
        except StoreUnavailableError:
            pass  # a collection that cannot be dropped now is dropped by the next publication


def _insert(link: MilvusLink, collection: str, rows: Iterator[dict[str, Any]]) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH_ROWS:
            link.call("insert", collection_name=collection, data=batch, timeout=WRITE_TIMEOUT_S)
            batch = []
    if batch:
        link.call("insert", collection_name=collection, data=batch, timeout=WRITE_TIMEOUT_S)


def _chunk_rows(data: BuildData, chunk_terms: list[list[str]]) -> Iterator[dict[str, Any]]:
    for chunk, terms, vector in zip(data.chunks, chunk_terms, data.chunk_vectors, strict=True):
        yield {"chunk_id": chunk.chunk_id, **_span(chunk), "terms": _fitting(" ".join(terms), chunk),
               "vector": vector.tolist()}


def _sentence_rows(data: BuildData) -> Iterator[dict[str, Any]]:
    chunks_of: dict[int, list[int]] = {}
    for chunk_id, sentence_ids in enumerate(data.chunk_sentences):
        for sentence_id in sentence_ids:
            chunks_of.setdefault(sentence_id, []).append(chunk_id)
    for sentence_id, (sentence, vector) in enumerate(zip(data.sentences, data.sentence_vectors, strict=True)):
        chunk_ids = chunks_of.get(sentence_id, [])
        if len(chunk_ids) > layout.MAX_CHUNKS_PER_SENTENCE:
            raise CorpusError(f"{sentence.doc_id} chars {sentence.start}-{sentence.end}: one sentence spans "
                              f"{len(chunk_ids)} chunks, Milvus stores at most {layout.MAX_CHUNKS_PER_SENTENCE}; "
                              "raise RAG_CHUNK_SIZE or break the paragraph into sentences")
        yield {"sentence_id": sentence_id, "chunk_ids": chunk_ids, **_span(sentence), "vector": vector.tolist()}


def _span(unit: Chunk | Sentence) -> dict[str, Any]:
    return {"doc_id": unit.doc_id, "paragraph": unit.paragraph, "start": unit.start, "end": unit.end,
            "text": _fitting(unit.text, unit), "clean": _fitting(unit.clean, unit)}


def _fitting(value: str, unit: Chunk | Sentence) -> str:
    size = len(value.encode("utf-8"))
    if size > layout.VARCHAR_MAX:
        raise CorpusError(f"{unit.doc_id} chars {unit.start}-{unit.end}: {size} bytes of text, more than the "
                          f"{layout.VARCHAR_MAX} a Milvus VARCHAR holds; break the paragraph with blank lines")
    return value


def _meta_rows(data: BuildData, build_id: str, vocabulary: list[str]) -> list[dict[str, Any]]:
    manifest = {key: value for key, value in data.manifest.items() if key != "files"}
    manifest["store"] = {"kind": "milvus", "build_id": build_id, "imported_from": data.manifest.get("build_id"),
                         "published": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                         "dense": {"index": "HNSW", "metric": "IP", "M": layout.HNSW_M,
                                   "efConstruction": layout.HNSW_EF_CONSTRUCTION},
                         "bm25": {"function": "Milvus BM25 over rag.terms", "k1": layout.BM25_K1, "b": layout.BM25_B}}
    manifest["build_id"] = build_id
    rows = []
    for key, value in (("manifest", manifest), ("neighbours", data.neighbours), ("vocabulary", vocabulary)):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        for part, start in enumerate(range(0, max(len(text), 1), layout.META_PART_CHARS)):
            rows.append({"key": f"{key}/{part:06d}", "value": text[start:start + layout.META_PART_CHARS],
                         "unused": [0.0, 0.0]})
    return rows
