"""The on-disk index: fresh or stale, rebuilt atomically, refused when it does not match."""

from __future__ import annotations

import gc
import json
import shutil
from pathlib import Path

import pytest

from rag.config import Settings
from rag.index.files import current_build, load_index, read_manifest
from rag.ingest.corpus import load_corpus
from rag.models.embedding import Embedder
from rag.pipeline import RAG, IndexReport, ensure_index
from rag.schema import IndexCorruptError, IndexMissingError, StaleIndexError
from tests.conftest import SMALL_CORPUS


def test_first_build_says_why_and_records_what_it_was_built_from(settings: Settings, embedder: Embedder,
                                                                tmp_path: Path):
    # One article, from an empty folder: what a first build says does not depend on how many there are.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in SMALL_CORPUS:
        shutil.copy2(settings.corpus_dir / name, corpus / name)
    settings = settings.replace(corpus_dir=corpus, index_dir=tmp_path / "index")
    report = ensure_index(settings, embedder)
    assert report.rebuilt and report.reasons == ("no index has been built yet",)
    assert report.build is not None and report.build.parent == settings.index_dir / "builds"
    manifest = read_manifest(current_build(settings.index_dir))
    assert manifest["model"]["dimension"] == 384
    assert manifest["model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["model"]["sha256"] == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    assert manifest["chunking"]["chunk_size"] == settings.chunk_size
    assert manifest["counts"]["documents"] == len(SMALL_CORPUS)
    assert manifest["faiss"]["type"] == "IndexFlatIP"
    assert {"faiss-cpu", "sentence-transformers", "bm25s"} <= set(manifest["libraries"])
    assert len(manifest["key"]["corpus_fingerprint"]) == 64
    assert set(manifest["files"]) >= {"chunks.faiss", "chunks.jsonl", "sentences.jsonl", "sentences.npy"}


def test_unchanged_corpus_is_not_re_embedded(built: Settings, embedder: Embedder):
    before = current_build(built.index_dir)
    report = ensure_index(built, embedder)
    assert not report.rebuilt and report.reasons == ()
    assert current_build(built.index_dir) == before


def test_changed_article_makes_the_index_stale_and_index_rebuilds_it(built: Settings, embedder: Embedder):
    before = current_build(built.index_dir)
    article = built.corpus_dir / "004_089e00b1afc4a471.txt"
    article.write_text(article.read_text(encoding="utf-8") + "\nNATO said the office will have two staff.\n",
                       encoding="utf-8")
    with pytest.raises(StaleIndexError, match="the corpus in .* changed since the index was built"):
        RAG(built, embedder)
    report = ensure_index(built, embedder)
    assert report.rebuilt and report.reasons == ("the corpus changed",)
    assert current_build(built.index_dir) != before
    assert not before.exists()  # the old build is cleaned up
    answer = RAG(built, embedder).ask("How many staff will the office have?")
    assert any("two staff" in c.text for c in answer.citations)


def test_chunk_size_change_makes_the_index_stale(built: Settings, embedder: Embedder):
    smaller = built.replace(chunk_size=300, chunk_overlap=50)
    report = ensure_index(smaller, embedder)
    assert report.rebuilt
    assert report.reasons == ("chunk_size changed (700 -> 300)", "chunk_overlap changed (100 -> 50)")
    assert read_manifest(current_build(smaller.index_dir))["chunking"]["chunk_size"] == 300


class _Crash(Exception):
    """Stands in for the process dying part-way through a build."""


def test_a_build_that_fails_part_way_leaves_the_previous_index_serving(small_built: Settings, embedder: Embedder):
    before = current_build(small_built.index_dir)
    expected = RAG(small_built, embedder).ask("Who opposed the Tokyo office?")

    def crash_after_the_vectors_are_written(message: str) -> None:
        # Called once chunks.faiss, sentences.npy and bm25/ are on disk in the new build's folder.
        if message.startswith("embedding the articles' words"):
            partial = [p for p in (small_built.index_dir / "builds").iterdir() if p.name.endswith(".partial")]
            assert len(partial) == 1 and (partial[0] / "chunks.faiss").is_file()
            assert not gc.isenabled()  # paused for the build (rag/index/lifecycle.py)
            raise _Crash

    assert gc.isenabled()
    with pytest.raises(_Crash):
        ensure_index(small_built, embedder, force=True, progress=crash_after_the_vectors_are_written)
    assert gc.isenabled()  # the failed build did not leave the process without its cycle collector
    assert current_build(small_built.index_dir) == before
    assert [p.name for p in (small_built.index_dir / "builds").iterdir()] == [before.name]  # the partial is gone
    answer = RAG(small_built, embedder).ask("Who opposed the Tokyo office?")
    assert answer.text == expected.text and answer.citations == expected.citations


def test_a_pointer_to_a_half_written_build_is_refused(built: Settings, embedder: Embedder):
    # What a crash leaves when it stops a build mid-write: a folder whose files do not match its manifest.
    current = current_build(built.index_dir)
    partial = current.parent / "20990101T000000-deadbeef.partial"
    shutil.copytree(current, partial)
    (partial / "chunks.faiss").write_bytes(b"")
    (built.index_dir / "CURRENT").write_text(partial.name + "\n", encoding="utf-8")
    assert current_build(built.index_dir) == partial
    with pytest.raises(IndexCorruptError, match=r"chunks.faiss fails its checksum \(truncated or altered\)"):
        RAG(built, embedder)
    # The fix the message names, `index --force`, is test_truncated_vectors_fail_their_checksum's.


def test_missing_index_says_what_to_run(tmp_path: Path, embedder: Embedder):
    settings = Settings.load(env={}, index_dir=tmp_path / "none")
    with pytest.raises(IndexMissingError, match=r"no index in .*none; run `python -m rag index`"):
        RAG(settings, embedder)


def test_truncated_vectors_fail_their_checksum(small_built: Settings, embedder: Embedder):
    faiss_file = current_build(small_built.index_dir) / "chunks.faiss"
    faiss_file.write_bytes(faiss_file.read_bytes()[:1000])
    with pytest.raises(IndexCorruptError, match="chunks.faiss fails its checksum .* run `python -m rag index --force`"):
        RAG(small_built, embedder)
    assert ensure_index(small_built, embedder, force=True).rebuilt
    RAG(small_built, embedder)


def test_index_built_with_other_weights_is_refused(built: Settings, embedder: Embedder):
    build = current_build(built.index_dir)
    manifest = json.loads((build / "manifest.json").read_text())
    manifest["model"]["sha256"] = "0" * 64
    (build / "manifest.json").write_text(json.dumps(manifest))
    docs, _ = load_corpus(built.corpus_dir)
    with pytest.raises(StaleIndexError, match="built with other model weights"):
        load_index(built.index_dir, 384, "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                   {d.doc_id: d for d in docs})


def test_index_type_is_picked_by_size():
    import numpy as np

    from rag.index.files import EXACT_SEARCH_MAX, HNSW_EF_SEARCH, _faiss_index

    rng = np.random.default_rng(0)
    small, kind = _faiss_index(rng.standard_normal((100, 8)).astype("float32"))
    assert kind == "IndexFlatIP" and small.ntotal == 100
    large, kind = _faiss_index(rng.standard_normal((EXACT_SEARCH_MAX + 1, 8)).astype("float32"))
    assert kind == "IndexHNSWFlat(M=32)" and large.hnsw.efSearch == HNSW_EF_SEARCH
