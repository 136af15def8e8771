"""The Milvus store against a real Milvus Lite gRPC server on 127.0.0.1 (the network client path).

The session's FAISS index is imported as `python -m rag milvus-import` does,
then read back through `MilvusStore`: the same dense and BM25 rankings as the
FAISS build, the same chunks, sentences and vectors, every span exact in the
article files. Publication, failure and recovery are exercised on the server
itself: a second and third import, a half-written build, a server that is
absent, frozen, stopped and started again.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag.cli import main
from rag.config import Settings
from rag.index.files import LoadedIndex, load_index
from rag.index.stores import milvus_layout as layout
from rag.index.stores.milvus_import import import_faiss_index
from rag.index.stores.milvus_link import MilvusLink
from rag.index.stores.milvus_publish import aliased_builds, build_data, publish
from rag.index.stores.milvus_store import MilvusStore
from rag.models.embedding import Embedder, weights_sha256
from rag.models.terms import family_in, terms
from rag.pipeline import RAG
from rag.schema import ConfigError, CorpusError, IndexCorruptError, StoreUnavailableError
from tests.milvus_server import MilvusServer
from tests.servers import free_port

# Our own wording, not the evaluation files': names, numbers, paraphrases and a word no article uses.
QUERIES = ("Who objected to the liaison office in Japan?", "What did the Chinese foreign ministry say?",
           "When is the summit in Vilnius?", "Which countries have not ratified Sweden's membership?",
           "How many staff will the office have?", "Kishida Stoltenberg partners Indo-Pacific",
           "cold war mentality", "zeppelin")
RECOVERY_DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def faiss_index(rag: RAG, settings: Settings, embedder: Embedder) -> LoadedIndex:
    return load_index(settings.index_dir, embedder.dimension, weights_sha256(embedder.model_dir), rag.documents)


@pytest.fixture(scope="module")
def store(milvus: MilvusServer, settings: Settings, embedder: Embedder, faiss_index: LoadedIndex) -> MilvusStore:
    import_faiss_index(settings, milvus.address, namespace="imported")
    return MilvusStore.open(MilvusLink(milvus.address), "imported", weights_sha256(embedder.model_dir),
                            embedder.dimension)


def test_import_keeps_the_build(store: MilvusStore, faiss_index: LoadedIndex) -> None:
    assert store.build_id != faiss_index.build_id
    assert store.manifest["store"]["imported_from"] == faiss_index.build_id
    assert store.manifest["counts"] == faiss_index.manifest["counts"]
    assert store.manifest["key"] == faiss_index.manifest["key"]
    assert store.neighbours == faiss_index.neighbours
    assert set(store.vocabulary) == set(faiss_index.bm25.vocab_dict) - {""}
    assert store.current_build_id() == store.build_id


def test_dense_ranking_is_the_faiss_ranking(store: MilvusStore, faiss_index: LoadedIndex, embedder: Embedder) -> None:
    for query in QUERIES:
        vector = embedder.encode_query(query)
        _, ids = faiss_index.chunk_vectors.search(vector.reshape(1, -1), 20)
        assert store.dense(vector, 20) == [int(i) for i in ids[0]], query


def test_bm25_ranking_is_the_faiss_ranking(store: MilvusStore, faiss_index: LoadedIndex) -> None:
    """Milvus's BM25 over the project's terms scores as bm25s does; equal scores go by chunk id."""
    vocabulary = sorted(store.vocabulary)
    every = len(faiss_index.chunks)
    matched = 0
    for query in QUERIES:
        wanted = list(dict.fromkeys(terms(query) + [t for term in terms(query) for t in family_in(term, vocabulary)]))
        wanted = [t for t in wanted if t in faiss_index.bm25.vocab_dict]
        if not wanted:
            assert store.lexical(wanted, every) == []
            continue
        ids, scores = faiss_index.bm25.retrieve([wanted], k=every, show_progress=False, n_threads=1)
        expected = [i for _, i in sorted((-float(s), int(i)) for i, s in zip(ids[0], scores[0], strict=True) if s > 0)]
        assert store.lexical(wanted, every) == expected, query
        matched += bool(expected)
    assert matched >= len(QUERIES) - 1  # only the unknown word finds nothing
    assert store.lexical([], 10) == [] and store.dense(np.ones(store.dimension, dtype=np.float32), 0) == []


def test_chunks_and_sentences_read_back_exact(store: MilvusStore, faiss_index: LoadedIndex, rag: RAG) -> None:
    every = list(range(len(faiss_index.chunks)))
    chunks = store.chunks(reversed(every))
    assert chunks == list(reversed(faiss_index.chunks))
    for chunk in chunks:
        assert rag.documents[chunk.doc_id].raw[chunk.start:chunk.end] == chunk.text
    np.testing.assert_allclose(store.chunk_vectors(every), faiss_index.chunk_vectors.reconstruct_n(0, len(every)),
                               atol=1e-6)
    sentences, vectors = store.sentences_of(every)
    assert [s for _, s in sentences] == list(faiss_index.sentences)
    assert [i for i, _ in sentences] == list(range(len(faiss_index.sentences)))
    np.testing.assert_allclose(vectors, faiss_index.sentence_vectors, atol=1e-6)
    for _, sentence in sentences:
        assert rag.documents[sentence.doc_id].raw[sentence.start:sentence.end] == sentence.text
    for chunk_id in (0, len(every) // 2, len(every) - 1):
        ids = [i for i, _ in store.sentences_of([chunk_id])[0]]
        assert ids == list(faiss_index.chunk_sentences[chunk_id])
    assert store.sentences_of([])[1].shape == (0, store.dimension)


def test_a_new_build_is_served_after_the_alias_switch_and_the_old_one_dropped(milvus: MilvusServer,
                                                                               faiss_index: LoadedIndex) -> None:
    link = MilvusLink(milvus.address)
    data = build_data(faiss_index)
    first = publish(link, data, "switch")
    served = MilvusStore.open(link, "switch")
    second = publish(link, data, "switch")
    assert served.current_build_id() == second != served.build_id == first
    assert aliased_builds(link, "switch") == {"switch_current": second, "switch_previous": first}
    assert served.dense(np.ones(served.dimension, dtype=np.float32), 3)  # the previous build still answers
    third = publish(link, data, "switch")
    assert MilvusStore.open(link, "switch").build_id == third
    assert _builds(link, "switch") == {second, third}
    with pytest.raises(StoreUnavailableError, match="does not exist"):
        served.dense(np.ones(served.dimension, dtype=np.float32), 3)


def test_a_build_that_fails_half_way_is_never_served(milvus: MilvusServer, faiss_index: LoadedIndex) -> None:
    link = MilvusLink(milvus.address)
    data = build_data(faiss_index)
    served = publish(link, data, "partial")
    last = len(data.sentences) - 1
    huge = replace(data.sentences[last], text="x" * (layout.VARCHAR_MAX + 1))
    broken = replace(data, sentences=(*data.sentences[:last], huge))
    with pytest.raises(CorpusError, match=f"{huge.doc_id} chars {huge.start}-{huge.end}: 65536 bytes"):
        publish(link, broken, "partial")
    assert MilvusStore.open(link, "partial").build_id == served
    assert _builds(link, "partial") == {served}  # the half-written collections are gone


def test_a_collection_missing_rows_is_refused(milvus: MilvusServer, faiss_index: LoadedIndex) -> None:
    link = MilvusLink(milvus.address)
    build = publish(link, build_data(faiss_index), "short")
    link.call("delete", collection_name=layout.BuildNames("short", build).chunks, ids=[0])
    with pytest.raises(IndexCorruptError, match=f"Milvus holds {len(faiss_index.chunks) - 1} rows of short_"):
        MilvusStore.open(link, "short")


def test_unreachable_milvus_is_one_clear_error(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as raised:
        MilvusLink(address, connect_timeout_s=1.0)
    assert time.monotonic() - started < 10  # bounded by the connect timeout, never a hang
    assert str(raised.value).startswith(f"cannot reach Milvus at {address} within 1 s (")
    assert "start it, or point RAG_VECTOR_STORE at a running server" in str(raised.value)
    code = main(["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir),
                 "milvus-import", "--uri", address])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"error: cannot reach Milvus at {address}") and "\n" not in err


@pytest.mark.parametrize("value", ["milvus", "milvus-lite:index/milvus", "tcp://127.0.0.1:19530", "http://"])
def test_a_bad_store_setting_names_the_value_and_the_fix(value: str) -> None:
    with pytest.raises(ConfigError, match=f"vector_store={value!r} is no store; set RAG_VECTOR_STORE to 'faiss'"):
        Settings.load(env={"RAG_VECTOR_STORE": value})


def test_milvus_lite_file_is_a_store(tmp_path: Path, faiss_index: LoadedIndex) -> None:
    address = f"milvus-lite:{tmp_path / 'milvus.db'}"
    assert Settings.load(env={"RAG_VECTOR_STORE": address}).vector_store == address
    link = MilvusLink(address)
    build = publish(link, build_data(faiss_index), "lite")
    assert MilvusStore.open(link, "lite").chunks([3]) == [faiss_index.chunks[3]]
    assert build


def test_lost_milvus_fails_requests_then_serving_resumes(tmp_path: Path, faiss_index: LoadedIndex) -> None:
    server = MilvusServer(tmp_path / "data").start()
    try:
        link = MilvusLink(server.address, call_timeout_s=1.0)
        publish(link, build_data(faiss_index), "restart")
        store = MilvusStore.open(link, "restart")
        vector = faiss_index.chunk_vectors.reconstruct(5)
        before = store.dense(vector, 10)
        server.pause()
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match=f"Milvus at {server.address} failed a search"):
            store.dense(vector, 10)
        assert time.monotonic() - started < 10  # a frozen server costs the call timeout, not a hang
        server.resume()
        server.stop()
        with pytest.raises(StoreUnavailableError, match=f"Milvus at {server.address}"):
            store.current_build_id()
        server.start()
        deadline = time.monotonic() + RECOVERY_DEADLINE_S
        while True:
            try:
                # Milvus Lite comes back with its collections released: the store loads them again.
                assert store.dense(vector, 10) == before
                break
            except StoreUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert store.current_build_id() == store.build_id
        assert [i for i, _ in store.sentences_of([5])[0]] == list(faiss_index.chunk_sentences[5])
    finally:
        server.stop(clean=False)


def _builds(link: MilvusLink, namespace: str) -> set[str]:
    return {b for name in link.call("list_collections") if (b := layout.build_of(namespace, name))}


def test_build_ids_made_within_one_second_sort_in_the_order_they_were_made():
    # A publish drops the builds older than its own by comparing ids; three publishes within one second
    # (a fast store) once left the first behind, its random suffix sorting after the third's.
    made = [layout.new_build_id() for _ in range(500)]
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(layout.build_of("ns", f"ns_{build}_meta") == build for build in made[:3])
