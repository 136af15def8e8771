"""The on-disk index in `index/`: write a build, read it back, atomic replace.

When a build is needed, and which vectors it may reuse, is decided in
`rag/index/lifecycle.py`; this module owns the files.

Layout (plain, versioned files; nothing is pickled):

    index/CURRENT                  name of the build in use (replaced atomically)
    index/.lock                    held by a builder; a second builder waits on it
    index/builds/<id>/manifest.json
                      chunks.jsonl, sentences.jsonl   one JSON object a line
                      chunks.faiss                    chunk vectors (FAISS)
                      sentences.npy                   sentence vectors, float32
                      bm25/                           bm25s files (.npy + JSON)
                      neighbours.json                 each term's closest terms (rag/models/vocabulary.py)
                      words.json, words.npy           the words embedded for them, and their vectors
                      documents.jsonl                 what reading each page gave (rag/ingest/read_cache.py)

A build is written into a fresh folder and becomes visible only when CURRENT
is replaced with `os.replace`, so a crash mid-build leaves the previous index
(or none) and never a half one; leftovers are deleted by the next builder.
The manifest records every file's SHA-256, verified before FAISS or NumPy read
a byte of it, plus what decides staleness: the corpus fingerprint, the
model's weight hash, the chunking parameters and the format version.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rag.index.bm25_scores import Bm25Scores
from rag.ingest.chunking import page_units
from rag.ingest.corpus import document_digest
from rag.ingest.read_cache import to_record
from rag.models.embedding import Embedder, model_name
from rag.models.terms import tokenize
from rag.models.vocabulary import Neighbours, WordVectors, word_neighbours
from rag.schema import (
    Chunk,
    Document,
    IndexCorruptError,
    IndexMissingError,
    Sentence,
    StaleIndexError,
)

FORMAT_VERSION = 6  # 2: neighbours.json (word neighbours, see rag/models/vocabulary.py); 3: words.json/.npy;
# 4: vectors encoded 4 texts a batch, not 16; 5: texts a batch by token length (rag/models/embedding.py exact_batch);
# 6: BM25 terms and neighbours' keys with British spellings folded (rag/models/terms.py fold_spelling)
# Bumped whenever corpus reading, cleaning or splitting rules change what is indexed.
# 2: sentence-opening words ("Moreover") are words with neighbours, not names.
# 3: an article without a headline is titled by its first heading (what a build keeps of each page holds its title).
READER_VERSION = 3
# Below this many vectors exact search is fast enough; above it HNSW keeps
# queries well under the query embedding's ~11 ms. Measured (benchmarks/,
# one thread): exact 0.8 ms at 20k vectors, 5 ms at 100k; HNSW 0.1-0.4 ms at
# recall@10 >= 0.98 up to 1M.
EXACT_SEARCH_MAX = 20_000
HNSW_M = 32
HNSW_EF_SEARCH = 128


@dataclass(frozen=True)
class BuildKey:
    """What an index must match to be fresh."""

    corpus_fingerprint: str
    model_sha256: str
    chunk_size: int
    chunk_overlap: int

    def as_dict(self) -> dict[str, Any]:
        return {"corpus_fingerprint": self.corpus_fingerprint, "model_sha256": self.model_sha256,
                "chunk_size": self.chunk_size, "chunk_overlap": self.chunk_overlap,
                "format_version": FORMAT_VERSION, "reader_version": READER_VERSION}


@dataclass(frozen=True)
class LoadedIndex:
    build_id: str
    manifest: dict[str, Any]
    chunks: tuple[Chunk, ...]
    sentences: tuple[Sentence, ...]
    chunk_vectors: faiss.Index
    sentence_vectors: np.ndarray
    bm25: Bm25Scores  # read without bm25s, which only builds (rag/index/bm25_scores.py)
    # Sentence ids of each chunk, so the answerer reads only what was retrieved.
    chunk_sentences: tuple[tuple[int, ...], ...]
    neighbours: Neighbours  # term -> the articles' terms closest to it, with their cosine


def current_build(index_dir: Path) -> Path | None:
    """The build `CURRENT` names; None when there is none yet. `IndexCorruptError` when `CURRENT` cannot be
    read as a name: a build replaces it, or, where a build cannot (`check_layout`), the error says what to do."""
    pointer = index_dir / "CURRENT"
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as err:
        raise IndexCorruptError(f"{pointer} holds no build name (byte {err.start} is {err.object[err.start]:#04x}, "
                                "not UTF-8); run `python -m rag index --force`") from None
    except OSError as err:
        raise IndexCorruptError(f"{pointer} cannot be read ({err.strerror}); {_LAYOUT_FIX}") from None
    path = index_dir / "builds" / name
    return path if name and "/" not in name and path.is_dir() else None


_LAYOUT_FIX = "remove it and run `python -m rag index`"


def check_layout(index_dir: Path) -> None:
    """Refuse to build where a build cannot be published: `CURRENT` or `builds` of the wrong kind.

    A build never deletes what it did not make, so these are for whoever made them to remove.
    """
    pointer, builds = index_dir / "CURRENT", index_dir / "builds"
    if pointer.exists() and not pointer.is_file():
        raise IndexCorruptError(f"{pointer} is not a file (a build writes the current build's name there); "
                                f"{_LAYOUT_FIX}")
    if builds.exists() and not builds.is_dir():
        raise IndexCorruptError(f"{builds} is not a folder (builds are written there); {_LAYOUT_FIX}")


_SECTIONS = ("key", "model", "counts", "files")  # the parts of a manifest that are read as mappings


def read_manifest(build: Path) -> dict[str, Any]:
    fix = "run `python -m rag index --force`"
    try:
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IndexCorruptError(f"{build}/manifest.json is unreadable ({err}); {fix}") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise IndexCorruptError(f"{build} has index format {manifest.get('format_version') if isinstance(manifest, dict) else '?'}, "
                                f"this program reads {FORMAT_VERSION}; {fix}")
    for section in _SECTIONS:
        if not isinstance(manifest.get(section), dict):
            raise IndexCorruptError(f"{build}/manifest.json has no {section!r} section (found "
                                    f"{type(manifest.get(section)).__name__}); {fix}")
    return manifest


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Exclusive lock for builders; the kernel drops it if the holder dies."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class StoredVectors:
    """The vectors of a published build by text, for the next build to reuse instead of embedding again."""

    rows: dict[str, np.ndarray]  # chunk or sentence text -> its vector
    words: WordVectors
    # doc id -> (file digest, its chunk rows, its sentence rows): an unchanged page is not split again
    units: dict[str, tuple[str, list[dict[str, Any]], list[dict[str, Any]]]]
    # doc id -> what reading the page gave (`read_records`): an unchanged page is not parsed again
    records: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Built:
    path: Path
    embedded: int  # distinct texts (chunks, sentences, words) the model encoded
    reused: int  # distinct texts whose vectors came from the previous build


def build_index(index_dir: Path, documents: list[Document], embedder: Embedder, key: BuildKey,
                progress: Callable[[str], None] = lambda message: None,
                reuse: StoredVectors | None = None,
                meter: Callable[[int, int], None] = lambda done, total: None,
                digests: Mapping[str, str] | None = None,
                split: Mapping[str, tuple[list[Chunk], list[Sentence]]] | None = None,
                corpus_dir: Path | None = None) -> Built:
    """Write a complete new build and make it current. Call under `build_lock`.

    Texts whose vectors are in `reuse` are not embedded again; the others are encoded with
    `Embedder.encode_exact`, so the result is byte for byte what a build without `reuse` writes.
    `meter(done, total)` follows the encoding. `digests` are the pages' digests as the corpus reader
    computed them (`rag.ingest.corpus.read_pages`); without them they are computed again. `split` holds pages
    already cut into units (`rag.ingest.chunking.page_units`) with the key's chunking, by doc id. `corpus_dir`, the folder
    the documents were read from, is recorded, so that a build of another corpus does not replace this one.
    """
    check_layout(index_dir)
    if digests is None:
        digests = {d.doc_id: document_digest(d) for d in documents}
    chunks, sentences = _units(documents, digests, key, reuse, split or {})
    if not chunks:
        raise IndexMissingError("the corpus has no body text to index; add articles to the corpus folder")
    build_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    builds = index_dir / "builds"
    work = builds / (build_id + ".partial")
    work.mkdir(parents=True)
    try:
        texts = [c.clean for c in chunks] + [s.clean for s in sentences]
        # A one-sentence paragraph is both a chunk and a sentence: embed it once.
        distinct = list(dict.fromkeys(texts))
        known = reuse.rows if reuse is not None else {}
        missing = [text for text in distinct if text not in known]
        progress(f"embedding {len(missing):,} of {len(distinct):,} distinct texts ({len(chunks):,} chunks, "
                 f"{len(sentences):,} sentences); {len(distinct) - len(missing):,} unchanged, reused")
        fresh = embedder.encode_exact(missing, progress=lambda done: meter(done, len(missing)))
        fresh_row = {text: row for row, text in enumerate(missing)}
        vectors = np.empty((len(texts), embedder.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            vectors[row] = known[text] if text in known else fresh[fresh_row[text]]
        chunk_vectors, sentence_vectors = vectors[:len(chunks)], vectors[len(chunks):]
        faiss_index, faiss_kind = _faiss_index(chunk_vectors)
        faiss.write_index(faiss_index, str(work / "chunks.faiss"))
        np.save(work / "sentences.npy", sentence_vectors, allow_pickle=False)
        _write_jsonl(work / "chunks.jsonl", ({"chunk_id": c.chunk_id, "doc_id": c.doc_id, "paragraph": c.paragraph,
                                               "start": c.start, "end": c.end, "clean": c.clean} for c in chunks))
        _write_jsonl(work / "sentences.jsonl", ({"doc_id": s.doc_id, "paragraph": s.paragraph, "start": s.start,
                                                  "end": s.end, "clean": s.clean} for s in sentences))
        _write_jsonl(work / "documents.jsonl", (to_record(d, digests[d.doc_id]) for d in documents))
        import bm25s  # the builder: SciPy and all, in builds only

        bm25 = bm25s.BM25()
        bm25.index(tokenize([c.clean for c in chunks]), show_progress=False)
        bm25.save(str(work / "bm25"), allow_pickle=False)
        progress("embedding the articles' words for their neighbours")
        neighbours, words = word_neighbours((s.clean for s in sentences), embedder,
                                            reuse.words if reuse is not None else None)
        (work / "neighbours.json").write_text(json.dumps(neighbours, sort_keys=True), encoding="utf-8")
        (work / "words.json").write_text(json.dumps(list(words.words), ensure_ascii=False), encoding="utf-8")
        np.save(work / "words.npy", words.vectors, allow_pickle=False)
        known_words = set(reuse.words.words) if reuse is not None else set()
        words_reused = sum(w in known_words for w in words.words)
        manifest = {
            "format_version": FORMAT_VERSION,
            "build_id": build_id,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "key": key.as_dict(),
            "model": {"path": str(embedder.model_dir), "name": model_name(embedder.model_dir),
                      "sha256": key.model_sha256, "dimension": embedder.dimension,
                      # What ran the model (torch, or ONNX Runtime on which graph): vectors are reused only
                      # from a build of the same, so an incremental build stays byte for byte a full one.
                      "encoder": embedder.encoder},
            "chunking": {"chunk_size": key.chunk_size, "chunk_overlap": key.chunk_overlap,
                         "splitter": "langchain RecursiveCharacterTextSplitter, paragraph-aligned"},
            "faiss": {"type": faiss_kind, "metric": "inner_product"},
            "counts": {"documents": len(documents), "chunks": len(chunks), "sentences": len(sentences)},
            # Its absolute path, and its path from the index folder (the same when a project is moved whole).
            **({"corpus": {"folder": os.path.abspath(corpus_dir),
                           "from_index": os.path.relpath(os.path.abspath(corpus_dir), os.path.abspath(index_dir))}}
               if corpus_dir is not None else {}),
            "documents": {d.doc_id: hashlib.sha256(d.raw.encode("utf-8")).hexdigest() for d in documents},
            "libraries": _library_versions(),
            "files": {name: _file_digest(work / name) for name in _data_files(work)},
        }
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        _fsync_tree(work)
        final = builds / build_id
        os.rename(work, final)
        _replace_pointer(index_dir, build_id)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    _remove_other_builds(builds, keep=build_id)
    return Built(builds / build_id, len(missing) + len(words.words) - words_reused,
                 len(distinct) - len(missing) + words_reused)


def _units(documents: list[Document], digests: Mapping[str, str], key: BuildKey, reuse: StoredVectors | None,
           split: Mapping[str, tuple[list[Chunk], list[Sentence]]]) -> tuple[list[Chunk], list[Sentence]]:
    """Chunks and sentences in corpus order, renumbered; an unchanged page's are taken from `reuse`, a page in
    `split` from there."""
    chunks: list[Chunk] = []
    sentences: list[Sentence] = []
    for document in documents:
        stored = reuse.units.get(document.doc_id) if reuse is not None else None
        first = len(chunks)
        if stored is not None and stored[0] == digests[document.doc_id]:
            raw = document.raw
            chunks.extend(Chunk(first + i, document.doc_id, r["paragraph"], r["start"], r["end"],
                                raw[r["start"]:r["end"]], r["clean"]) for i, r in enumerate(stored[1]))
            sentences.extend(Sentence(document.doc_id, r["paragraph"], r["start"], r["end"], raw[r["start"]:r["end"]],
                                      r["clean"]) for r in stored[2])
        else:
            page_chunks, page_sentences = split.get(document.doc_id) or page_units(document, key.chunk_size,
                                                                                   key.chunk_overlap)
            chunks.extend(replace(c, chunk_id=first + i) for i, c in enumerate(page_chunks))
            sentences.extend(page_sentences)
    return chunks, sentences


def stored_vectors(build: Path, dimension: int) -> StoredVectors | None:
    """The vectors of `build` by text, or None when it cannot be trusted (checksums, shapes)."""
    try:
        manifest = read_manifest(build)
        files = manifest.get("files", {})
        if not files or set(files) != set(_data_files(build)) or any(
                _file_digest(build / name) != digest for name, digest in files.items()):
            return None
        chunk_index = faiss.read_index(str(build / "chunks.faiss"))
        chunk_vectors = chunk_index.reconstruct_n(0, chunk_index.ntotal)
        sentence_vectors = np.load(build / "sentences.npy", allow_pickle=False)
        chunk_rows = _read_jsonl(build / "chunks.jsonl")
        sentence_rows = _read_jsonl(build / "sentences.jsonl")
        chunk_texts = [row["clean"] for row in chunk_rows]
        sentence_texts = [row["clean"] for row in sentence_rows]
        records = {record["doc_id"]: record for record in _read_jsonl(build / "documents.jsonl")}
        words = json.loads((build / "words.json").read_text(encoding="utf-8"))
        word_vectors = np.load(build / "words.npy", allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, IndexCorruptError):
        return None
    if (chunk_vectors.shape != (len(chunk_texts), dimension) or sentence_vectors.shape != (len(sentence_texts), dimension)
            or word_vectors.shape != (len(words), dimension)):
        return None
    rows = dict(zip(chunk_texts, chunk_vectors, strict=True))
    rows.update(zip(sentence_texts, sentence_vectors, strict=True))
    units: dict[str, tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = {
        doc_id: (record["digest"], [], []) for doc_id, record in records.items()}
    for row in chunk_rows:
        units[row["doc_id"]][1].append(row)
    for row in sentence_rows:
        units[row["doc_id"]][2].append(row)
    if manifest["key"].get("reader_version") != READER_VERSION:
        records = {}
    return StoredVectors(rows, WordVectors(tuple(words), word_vectors), units, records)


def read_records(index_dir: Path) -> dict[str, dict[str, Any]]:
    """What the current build read of each page (`rag.ingest.read_cache`), by doc id; empty when unusable."""
    try:
        build = current_build(index_dir)
        if build is None:
            return {}
        manifest = read_manifest(build)
        if manifest["key"].get("reader_version") != READER_VERSION or \
                _file_digest(build / "documents.jsonl") != manifest["files"]["documents.jsonl"]:
            return {}
        return {record["doc_id"]: record for record in _read_jsonl(build / "documents.jsonl")}
    except (OSError, ValueError, KeyError, TypeError, IndexCorruptError):
        return {}


def _faiss_index(vectors: np.ndarray) -> tuple[faiss.Index, str]:
    dimension = vectors.shape[1]
    if len(vectors) <= EXACT_SEARCH_MAX:
        index = faiss.IndexFlatIP(dimension)
        kind = "IndexFlatIP"
    else:
        index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        # Stored in the file; at least the retriever's candidate count, or recall drops.
        index.hnsw.efSearch = HNSW_EF_SEARCH
        kind = f"IndexHNSWFlat(M={HNSW_M})"
    index.add(vectors)
    return index, kind


def load_index(index_dir: Path, dimension: int, model_sha256: str, documents: Mapping[str, Document]) -> LoadedIndex:
    """The current build, after checking checksums, counts, dimension and model.

    Chunk and sentence text is taken from `documents` (the raw articles), which
    must be the corpus the index was built from.
    """
    build = current_build(index_dir)
    if build is None:
        raise IndexMissingError(f"no index in {index_dir}; run `python -m rag index`")
    manifest = read_manifest(build)
    fix = "run `python -m rag index --force` to rebuild it"
    built_model = manifest.get("model", {})
    if built_model.get("sha256") != model_sha256:
        raise StaleIndexError(f"the index in {index_dir} was built with other model weights "
                              f"(sha256 {str(built_model.get('sha256'))[:12]}…, loaded model {model_sha256[:12]}…); {fix}")
    if built_model.get("dimension") != dimension:
        raise IndexCorruptError(f"the index has dimension {built_model.get('dimension')}, the model gives {dimension}; {fix}")
    files = manifest.get("files", {})
    if not files or set(files) != set(_data_files(build)):
        raise IndexCorruptError(f"the files of {build} do not match its manifest; {fix}")
    for name, expected in files.items():
        if _file_digest(build / name) != expected:
            raise IndexCorruptError(f"{build / name} fails its checksum (truncated or altered); {fix}")
    try:
        return _read_build(build, manifest, dimension, documents, fix)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as err:
        # The checksums matched, yet a reader refused a file: a forged manifest or
        # a format this version cannot read. Either way the build is not served.
        raise IndexCorruptError(f"{build} cannot be read ({type(err).__name__}: {err}); {fix}") from None


def _read_build(build: Path, manifest: dict[str, Any], dimension: int, documents: Mapping[str, Document],
                fix: str) -> LoadedIndex:
    if set(manifest.get("documents", {})) != set(documents):
        raise StaleIndexError(f"the index in {build.parent.parent} was built from other documents; "
                              "run `python -m rag index`")
    counts = manifest["counts"]
    chunk_vectors = faiss.read_index(str(build / "chunks.faiss"))
    sentence_vectors = np.load(build / "sentences.npy", allow_pickle=False)
    chunks = tuple(Chunk(chunk_id=row["chunk_id"], doc_id=row["doc_id"], paragraph=row["paragraph"], start=row["start"],
                         end=row["end"], text=documents[row["doc_id"]].raw[row["start"]:row["end"]], clean=row["clean"])
                   for row in _read_jsonl(build / "chunks.jsonl"))
    sentences = tuple(Sentence(doc_id=row["doc_id"], paragraph=row["paragraph"], start=row["start"], end=row["end"],
                               text=documents[row["doc_id"]].raw[row["start"]:row["end"]], clean=row["clean"])
                      for row in _read_jsonl(build / "sentences.jsonl"))
    if not (chunk_vectors.ntotal == len(chunks) == counts["chunks"]) or chunk_vectors.d != dimension:
        raise IndexCorruptError(f"the index holds {chunk_vectors.ntotal} vectors of dimension {chunk_vectors.d} "
                                f"for {len(chunks)} chunks (manifest: {counts['chunks']}); {fix}")
    if sentence_vectors.shape != (len(sentences), dimension) or len(sentences) != counts["sentences"]:
        raise IndexCorruptError(f"sentence vectors {sentence_vectors.shape} do not match {len(sentences)} sentences; {fix}")
    bm25 = Bm25Scores.load(build / "bm25")
    neighbours = {term: tuple((str(n), float(s)) for n, s in close)
                  for term, close in json.loads((build / "neighbours.json").read_text(encoding="utf-8")).items()}
    return LoadedIndex(build.name, manifest, chunks, sentences, chunk_vectors, sentence_vectors, bm25,
                       _sentences_by_chunk(chunks, sentences), neighbours)


def _sentences_by_chunk(chunks: tuple[Chunk, ...], sentences: tuple[Sentence, ...]) -> tuple[tuple[int, ...], ...]:
    by_paragraph: dict[tuple[str, int], list[int]] = {}
    for sentence_id, sentence in enumerate(sentences):
        by_paragraph.setdefault((sentence.doc_id, sentence.paragraph), []).append(sentence_id)
    return tuple(
        tuple(i for i in by_paragraph.get((c.doc_id, c.paragraph), ())
              if sentences[i].start < c.end and c.start < sentences[i].end)
        for c in chunks
    )


def _data_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# `json.dumps(row, ensure_ascii=False)` makes a new encoder per call; a wiki's build writes a line per unit.
_JSON_LINE = json.JSONEncoder(ensure_ascii=False).encode


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(_JSON_LINE(row) + "\n")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _replace_pointer(index_dir: Path, build_id: str) -> None:
    tmp = index_dir / f".CURRENT.{uuid.uuid4().hex}"
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(build_id + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / "CURRENT")


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())


def _remove_other_builds(builds: Path, keep: str) -> None:
    # Servers hold what they loaded in memory, so an old build can go at once.
    for path in builds.iterdir():
        if path.name != keep:
            shutil.rmtree(path, ignore_errors=True)


def _library_versions() -> dict[str, str]:
    names = ("faiss-cpu", "sentence-transformers", "bm25s", "langchain-text-splitters", "torch", "numpy",
             "onnxruntime", "tokenizers")
    from importlib import metadata  # builds only; a tenth of a second of every start otherwise

    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
