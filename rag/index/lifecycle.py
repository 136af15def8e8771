"""The index's life: read the corpus, decide whether the index is stale, build or update it, open it.

Every decision about staleness is made here, with one list of reasons
(`stale_reasons`): `python -m rag index`, `make run` and a server's start all
go through `ensure_index`, and `open_index` refuses to serve a build those
same reasons call stale.

A build after a change is incremental: the vectors of the published build are
reused for every chunk, sentence and word whose text is unchanged (an
unchanged paragraph inside an edited page included), and only new texts are
embedded. Texts are encoded one token length at a time
(`Embedder.encode_exact`), so a reused vector has the very bytes a full
rebuild computes and an incremental build publishes what a full rebuild
would. `force=True` is a full rebuild: nothing is reused.
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag.config import Settings, default_index_dir, same_folder
from rag.index.files import (
    FORMAT_VERSION,
    READER_VERSION,
    BuildKey,
    LoadedIndex,
    StoredVectors,
    build_index,
    build_lock,
    check_layout,
    current_build,
    load_index,
    read_manifest,
    read_records,
    stored_vectors,
)
from rag.ingest.chunking import page_units
from rag.ingest.corpus import Skipped, has_page_files, load_corpus, read_pages
from rag.models.embedding import Embedder, resolve_model_path, weights_sha256
from rag.models.vocabulary import WordVectors
from rag.schema import Chunk, ConfigError, CorpusError, Document, IndexCorruptError, Sentence, StaleIndexError

_LABELS = {"corpus_fingerprint": "the corpus changed", "model_sha256": "the embedding model changed",
           "chunk_size": "chunk_size changed", "chunk_overlap": "chunk_overlap changed",
           "format_version": "the index format changed", "reader_version": "the corpus reader changed"}


@dataclass(frozen=True)
class IndexReport:
    """What `ensure_index` did: read, skipped, rebuilt and why, and how much it embedded."""

    documents: tuple[Document, ...]
    skipped: tuple[Skipped, ...]
    rebuilt: bool
    reasons: tuple[str, ...]
    build: Path | None
    embedded: int = 0  # distinct texts encoded by the model
    reused: int = 0  # distinct texts whose vectors came from the previous build
    seconds: float = 0.0


def check_corpus_has_pages(settings: Settings) -> None:
    """`read_corpus`'s error for a missing or empty corpus folder, found without loading the model (seconds) first."""
    if not has_page_files(settings.corpus_dir):
        raise CorpusError(_no_readable_page(settings, 0))


def _no_readable_page(settings: Settings, skipped: int) -> str:
    return (f"no readable page in {settings.corpus_dir} ({skipped} skipped); "
            "add UTF-8 .txt, .md or .html files there and run `python -m rag index`")


def read_corpus(settings: Settings) -> tuple[list[Document], list[Skipped]]:
    """The corpus; pages unchanged since the current build are taken from what it read, not parsed again."""
    documents, skipped = load_corpus(settings.corpus_dir, read_records(settings.index_dir))
    if not documents:
        raise CorpusError(_no_readable_page(settings, len(skipped)))
    return documents, skipped


def load_embedder(settings: Settings) -> Embedder:
    """The model `settings` name, run by ONNX Runtime (the default; torch is never imported) or by torch."""
    model_dir = resolve_model_path(settings.model_path, settings.model)
    if settings.encoder == "torch":
        return Embedder(model_dir, batch_size=settings.embed_batch_size)
    from rag.models.onnx_embedding import OnnxEmbedder

    return OnnxEmbedder(model_dir, batch_size=settings.embed_batch_size,  # type: ignore[return-value]
                        threads=settings.onnx_threads)


def corpus_fingerprint(documents: Sequence[Document]) -> str:
    digest = hashlib.sha256()
    for document in sorted(documents, key=lambda d: d.doc_id):
        digest.update(document.doc_id.encode() + b"\0" + document.raw.encode("utf-8") + b"\0")
        digest.update(json.dumps([document.title, document.date, document.source, document.url]).encode())
    return digest.hexdigest()


_SHA_CACHE: dict[Path, str] = {}


def model_sha256(model_dir: Path) -> str:
    # Hashing 90 MB of weights takes a moment; once per process is enough.
    if model_dir not in _SHA_CACHE:
        _SHA_CACHE[model_dir] = weights_sha256(model_dir)
    return _SHA_CACHE[model_dir]


def build_key(settings: Settings, embedder: Embedder, documents: Sequence[Document]) -> BuildKey:
    return BuildKey(corpus_fingerprint(documents), model_sha256(embedder.model_dir), settings.chunk_size,
                    settings.chunk_overlap)


def stale_reasons(index_dir: Path, key: BuildKey) -> list[str]:
    """Why the index in `index_dir` does not serve `key` (empty when it does)."""
    try:
        build = current_build(index_dir)
        if build is None:
            return ["no index has been built yet"]
        built = read_manifest(build)["key"]
    except IndexCorruptError as err:
        return [str(err)]
    return [f"{_LABELS[name]} ({built.get(name)!r} -> {value!r})" if name.startswith("chunk") else _LABELS[name]
            for name, value in key.as_dict().items() if built.get(name) != value]


def ensure_index(settings: Settings, embedder: Embedder, force: bool = False,
                 progress: Callable[[str], None] = lambda message: None,
                 meter: Callable[[int, int], None] = lambda done, total: None) -> IndexReport:
    """Build the index if it is missing, stale or `force`d (a full rebuild); otherwise leave it untouched.

    A stale index built with the same model and format is updated: only new texts are embedded.
    """
    started = time.perf_counter()
    with build_lock(settings.index_dir), _collector_paused():
        check_layout(settings.index_dir)  # before anything is read or embedded for a build that cannot be published
        reuse = None if force else _reusable(settings.index_dir, model_sha256(embedder.model_dir), embedder)
        split: dict[str, tuple[list[Chunk], list[Sentence]]] = {}

        def split_while_parsed(document: Document) -> None:
            split[document.doc_id] = page_units(document, settings.chunk_size, settings.chunk_overlap)

        read = read_pages(settings.corpus_dir, reuse.records if reuse is not None else None, split_while_parsed)
        documents, skipped = read.documents, read.skipped
        if not documents:
            documents, skipped = read_corpus(settings)  # the one-line error for an empty corpus
        key = build_key(settings, embedder, documents)
        reasons = stale_reasons(settings.index_dir, key)
        if force:
            reasons = reasons or ["--force"]
        if not reasons:
            return IndexReport(tuple(documents), tuple(skipped), False, (), None,
                               seconds=time.perf_counter() - started)
        if not force:
            _refuse_another_corpus(settings, documents)
        for reason in reasons:
            progress(f"rebuilding: {reason}")
        built = build_index(settings.index_dir, documents, embedder, key, progress, reuse, meter, read.digests,
                            split, settings.corpus_dir)
        return IndexReport(tuple(documents), tuple(skipped), True, tuple(reasons), built.path, built.embedded,
                           built.reused, time.perf_counter() - started)


def _refuse_another_corpus(settings: Settings, documents: Sequence[Document]) -> None:
    """A build never replaces the index of another corpus unless forced: `ConfigError` naming a folder of its own."""
    try:
        build = current_build(settings.index_dir)
        manifest = read_manifest(build) if build is not None else None
    except IndexCorruptError:
        return  # a damaged build is replaced, whoever made it
    other = manifest and another_corpus(manifest, settings, {d.doc_id for d in documents})
    if other:
        raise ConfigError(f"index folder {settings.index_dir} holds the index of another corpus ({other}), which building "
                          f"{settings.corpus_dir} there would replace; build it in a folder of its own with --index "
                          f"{folder_of_its_own(settings)} (or RAG_INDEX_DIR), or replace that index on purpose with "
                          "`python -m rag index --force`")


def another_corpus(manifest: dict, settings: Settings, doc_ids: set[str]) -> str | None:
    """What the corpus a build (`manifest`) was made from is called, when it is another than `settings.corpus_dir`
    with the documents `doc_ids`; None when it is this one.

    The same corpus is the same folder, by its path or by its path from the index folder (a project moved whole),
    or, whatever the folders, one that still holds at least half of the build's documents: a copy of a corpus
    with its index, a corpus moved without its index. Builds made before the folder was recorded go by that alone.
    """
    recorded = manifest.get("corpus") if isinstance(manifest.get("corpus"), dict) else {}
    folder, from_index = recorded.get("folder"), recorded.get("from_index")
    if isinstance(folder, str) and same_folder(Path(folder), settings.corpus_dir):
        return None
    if isinstance(from_index, str) and same_folder(settings.index_dir / from_index, settings.corpus_dir):
        return None
    built = manifest.get("documents") if isinstance(manifest.get("documents"), dict) else {}
    if built and 2 * sum(doc_id in doc_ids for doc_id in built) >= len(built):
        return None
    return folder if isinstance(folder, str) else f"{len(built):,} documents, such as {min(built, default='?')}"


def folder_of_its_own(settings: Settings) -> Path:
    """An index folder for `settings.corpus_dir` that is not `settings.index_dir`: its default one, else one beside."""
    default = default_index_dir(settings.corpus_dir)
    if not same_folder(default, settings.index_dir):
        return default
    return default.with_name(f"{default.name}-{settings.corpus_dir.name or 'corpus'}")


def current_manifest(index_dir: Path) -> dict | None:
    """The manifest of the build `index_dir/CURRENT` names; None when there is none. `IndexCorruptError` when it
    cannot be read."""
    build = current_build(index_dir)
    return read_manifest(build) if build is not None else None


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while the corpus is read and a build written.

    Both allocate objects by the million that live until the build ends (pages, paragraphs, rows), and the
    collector walked them again and again without freeing any: on a 10,000-page wiki that was 0.5 to 1 s
    of a 3 s update. What the build leaves behind is freed by reference counting as usual, and the collector
    is on again (if it was) as soon as the build returns or fails.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _reusable(index_dir: Path, model_sha: str, embedder: Embedder) -> StoredVectors | None:
    """The published build's vectors, when they were computed by the same model the same way (the same
    weights, run by the same encoder: torch and ONNX Runtime differ in the last bits)."""
    try:
        build = current_build(index_dir)
        if build is None:
            return None
        built = read_manifest(build)["key"]
    except (IndexCorruptError, KeyError):
        return None
    if built.get("model_sha256") != model_sha or built.get("format_version") != FORMAT_VERSION or \
            built.get("reader_version") != READER_VERSION:
        return None
    stored = stored_vectors(build, embedder.dimension)
    if stored is not None and read_manifest(build).get("model", {}).get("encoder") != embedder.encoder:
        # What reading and splitting the pages gave is the same whoever encodes; the vectors are not.
        return replace(stored, rows={}, words=WordVectors((), np.zeros((0, embedder.dimension), dtype=np.float32)))
    return stored


def open_index(settings: Settings, embedder: Embedder, documents: Sequence[Document]) -> LoadedIndex:
    """The current build for `documents`, refused (`StaleIndexError`) when it was built from another corpus."""
    by_id = {d.doc_id: d for d in documents}
    index = load_index(settings.index_dir, embedder.dimension, model_sha256(embedder.model_dir), by_id)
    if index.manifest["key"]["corpus_fingerprint"] != corpus_fingerprint(documents):
        raise StaleIndexError(f"the corpus in {settings.corpus_dir} changed since the index was built; "
                              "run `python -m rag index`")
    return index
