"""Rows "milvus answer", "milvus search" and "milvus scale": the Milvus store beside FAISS (full runs only).

Both talk to a Milvus Lite server in its own process on 127.0.0.1 (`python
-m milvus_lite server`), through the same gRPC client a Milvus cluster gets.

* answer: the whole `RAG.ask` for each dev question on a RAG serving from
  Milvus (RAG_VECTOR_STORE at the server, the build published as `python -m
  rag index` publishes it) and on one serving the FAISS folder, interleaved
  question by question; the note counts identical answers (text and citations).
* search: the five-article index imported with `publish(build_data(...))`;
  for each dev question, dense (k = `Settings.candidates`) plus BM25 search,
  on FAISS (`FaissChunkStore`: `IndexFlatIP` and bm25s) and on
  `MilvusStore`, interleaved question by question. The query vector
  is computed once, outside both timings; the terms are made inside both.
  The note counts questions whose rankings agree (dense exactly, BM25 as a
  set: equal scores may come in another order).
* scale: clustered unit vectors (`synthetic.clustered_vectors`) into one
  collection with the HNSW parameters of the store (M, efConstruction, ef
  at search); recall@10 against exact search (`IndexFlatIP` over the same
  vectors), p50/p95 of one search at a time, and how long inserting and
  indexing took. The default is issue 13's 1,000,000 vectors: on this
  2-core machine Milvus Lite (3.x, Python around FAISS segments of at most
  100,000 rows) inserted them in 296 s and flushed and indexed them in 207 s,
  about 9 minutes of a `make bench` run; `--vectors` sets another size. A
  Milvus cluster builds and searches in native code; these figures are
  Milvus Lite's.

`python -m benchmarks.milvus [--vectors N]` runs both rows alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faiss
import numpy as np
from pymilvus import DataType, MilvusClient

from benchmarks.context import FULL, Context, open_context
from benchmarks.measure import PYTHON, free_port, peak_rss_mb, percentile
from benchmarks.report import Row, Target, judged, machine, render, reported
from benchmarks.synthetic import clustered_vectors
from rag.index.chunk_store import FaissChunkStore
from rag.index.files import load_index
from rag.index.stores import milvus_layout as layout
from rag.index.stores.milvus_import import publish_current
from rag.index.stores.milvus_link import MilvusLink
from rag.index.stores.milvus_publish import BATCH_ROWS, WRITE_TIMEOUT_S, build_data, publish
from rag.index.stores.milvus_store import MilvusStore
from rag.models.embedding import weights_sha256
from rag.models.terms import family_in, terms
from rag.pipeline import RAG
from rag.schema import StoreUnavailableError

SCALE_VECTORS = 1_000_000
SCALE_QUERIES = 200
DIMENSION = 384
START_TIMEOUT_S = 60.0


@contextmanager
def milvus_lite_server(data_dir: Path) -> Iterator[tuple[str, int]]:
    """(address, pid) of a Milvus Lite gRPC server on a free 127.0.0.1 port, stopped on exit."""
    port = free_port()
    process = subprocess.Popen([PYTHON, "-m", "milvus_lite", "server", "--data-dir", str(data_dir), "--host",
                                "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                MilvusLink(address, connect_timeout_s=1.0).close()
                break
            except StoreUnavailableError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"milvus-lite did not start on {address}") from None
        yield address, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def search_row(ctx: Context, address: str) -> Row:
    s = ctx.settings
    documents = {d.doc_id: d for d in ctx.rag().documents.values()}
    index = load_index(s.index_dir, ctx.embedder.dimension, weights_sha256(ctx.embedder.model_dir), documents)
    faiss_store = FaissChunkStore(index, s.index_dir)
    link = MilvusLink(address)
    publish(link, build_data(index), "bench")
    store = MilvusStore.open(link, "bench")
    n = s.candidates
    vectors = [ctx.embedder.encode_query(q) for q in ctx.questions]

    def faiss_side(question: str, vector: np.ndarray) -> tuple[list[int], list[int]]:
        asked = terms(question)
        wanted = list(dict.fromkeys(asked + [t for term in asked for t in family_in(term, faiss_store.vocabulary)]))
        return faiss_store.dense(vector, n), faiss_store.lexical(wanted, n)

    dense_ms: list[float] = []

    def milvus_side(question: str, vector: np.ndarray) -> tuple[list[int], list[int]]:
        started = time.perf_counter()
        dense = store.dense(vector, n)
        dense_ms.append((time.perf_counter() - started) * 1000)
        asked = terms(question)
        wanted = list(dict.fromkeys(asked + [t for term in asked for t in family_in(term, store.vocabulary)]))
        return dense, store.lexical(wanted, n)

    for question, vector in zip(ctx.questions[:3], vectors, strict=False):  # warm both
        faiss_side(question, vector), milvus_side(question, vector)
    dense_ms.clear()
    faiss_ms, milvus_ms = [], []
    dense_same = lexical_same = 0
    for _ in range(ctx.sizes.latency_rounds):
        for question, vector in zip(ctx.questions, vectors, strict=True):
            started = time.perf_counter()
            faiss_dense, faiss_lexical = faiss_side(question, vector)
            faiss_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            milvus_dense, milvus_lexical = milvus_side(question, vector)
            milvus_ms.append((time.perf_counter() - started) * 1000)
            dense_same += faiss_dense == milvus_dense
            lexical_same += set(faiss_lexical) == set(milvus_lexical)
    link.close()
    figures = {"searches": len(faiss_ms), "chunks": len(index.chunks), "k": n,
               "milvus_p50_ms": round(percentile(milvus_ms, 50), 2), "milvus_p95_ms": round(percentile(milvus_ms, 95), 2),
               "faiss_p50_ms": round(percentile(faiss_ms, 50), 3), "faiss_p95_ms": round(percentile(faiss_ms, 95), 3),
               "milvus_dense_p50_ms": round(percentile(dense_ms, 50), 2), "dense_identical": dense_same, "lexical_same_set": lexical_same}
    return reported(
        "milvus search (dense + BM25), 5 articles", f"Milvus Lite p50 {figures['milvus_p50_ms']:.2f} ms "
        f"(p95 {figures['milvus_p95_ms']:.2f})", f"FAISS + bm25s p50 {figures['faiss_p50_ms']:.2f} ms "
        f"(p95 {figures['faiss_p95_ms']:.2f})", figures["milvus_p50_ms"] / figures["faiss_p50_ms"], figures,
        note=f"{len(index.chunks)} chunks, k={n}, {len(faiss_ms)} searches of each, interleaved; two gRPC round "
             f"trips on 127.0.0.1 per question against none (Milvus dense alone p50 "
             f"{figures['milvus_dense_p50_ms']:.2f} ms); rankings agree on {dense_same}/{len(faiss_ms)} (dense, "
             f"same order) and {lexical_same}/{len(faiss_ms)} (BM25, same chunks)")


def answer_row(ctx: Context, address: str) -> Row:
    faiss_rag = ctx.rag()
    milvus_settings = ctx.settings.replace(vector_store=address)
    publish_current(milvus_settings)
    milvus_rag = RAG(milvus_settings, ctx.embedder, list(faiss_rag.documents.values()))
    for question in ctx.questions[:3]:  # warm both
        faiss_rag.ask(question), milvus_rag.ask(question)
    faiss_ms: list[float] = []
    milvus_ms: list[float] = []
    same = 0
    for _ in range(ctx.sizes.latency_rounds):
        for question in ctx.questions:
            started = time.perf_counter()
            by_faiss = faiss_rag.ask(question)
            faiss_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            by_milvus = milvus_rag.ask(question)
            milvus_ms.append((time.perf_counter() - started) * 1000)
            same += (by_faiss.text, by_faiss.citations) == (by_milvus.text, by_milvus.citations)
    milvus_rag.close()
    figures = {"answers": len(faiss_ms), "milvus_p50_ms": round(percentile(milvus_ms, 50), 1),
               "milvus_p95_ms": round(percentile(milvus_ms, 95), 1), "faiss_p50_ms": round(percentile(faiss_ms, 50), 1),
               "faiss_p95_ms": round(percentile(faiss_ms, 95), 1), "identical_answers": same}
    return reported(
        "milvus answer (RAG.ask), 5 articles", f"Milvus Lite p50 {figures['milvus_p50_ms']:.1f} ms "
        f"(p95 {figures['milvus_p95_ms']:.1f})", f"FAISS p50 {figures['faiss_p50_ms']:.1f} ms "
        f"(p95 {figures['faiss_p95_ms']:.1f})", figures["milvus_p50_ms"] / figures["faiss_p50_ms"], figures,
        note=f"{len(faiss_ms)} answers of each, interleaved, one thread; the query embedding is in both; Milvus adds "
             f"its gRPC round trips on 127.0.0.1 (dense, BM25, chunk vectors); {same}/{len(faiss_ms)} answers "
             "identical in text and citations")


def scale_row(address: str, server_pid: int, n: int, queries: int) -> Row:
    vectors = clustered_vectors(n + queries, DIMENSION)
    base, probes = vectors[:n], vectors[n:]
    exact = faiss.IndexFlatIP(DIMENSION)
    exact.add(base)
    _, truth = exact.search(probes, 10)
    k = 50
    client = MilvusClient(address, timeout=WRITE_TIMEOUT_S)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIMENSION)
    index = MilvusClient.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="IP",
                    params={"M": layout.HNSW_M, "efConstruction": layout.HNSW_EF_CONSTRUCTION})
    client.create_collection("scale", schema=schema, index_params=index)
    started = time.perf_counter()
    for first in range(0, n, BATCH_ROWS * 10):
        rows = [{"id": i, "vector": base[i].tolist()} for i in range(first, min(n, first + BATCH_ROWS * 10))]
        client.insert("scale", rows, timeout=WRITE_TIMEOUT_S)
        if (first // (BATCH_ROWS * 10)) % 20 == 19:  # a line every 100,000 rows: a million takes a while
            print(f"[bench] milvus scale: {first + len(rows):,}/{n:,} vectors inserted in "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    insert_s = time.perf_counter() - started
    started = time.perf_counter()
    client.flush("scale", timeout=WRITE_TIMEOUT_S)
    client.release_collection("scale")
    client.load_collection("scale", timeout=3 * WRITE_TIMEOUT_S)  # builds the HNSW index of the sealed segments
    index_s = time.perf_counter() - started
    found = np.empty((queries, k), dtype=np.int64)
    samples = []
    for row, probe in enumerate(probes):
        started = time.perf_counter()
        hits = client.search("scale", data=[probe.tolist()], anns_field="vector", limit=k, output_fields=[],
                             search_params={"metric_type": "IP", "params": {"ef": max(k, layout.HNSW_EF_SEARCH)}})
        samples.append((time.perf_counter() - started) * 1000)
        found[row] = [int(hit["id"]) for hit in hits[0]]
    exact_ms = []
    for probe in probes[:50]:
        started = time.perf_counter()
        exact.search(probe.reshape(1, -1), k)
        exact_ms.append((time.perf_counter() - started) * 1000)
    client.close()
    recall = float(np.mean([len(set(f[:10].tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)]))
    figures = {"vectors": n, "queries": queries, "k": k, "recall_at_10": round(recall, 4),
               "p50_ms": round(percentile(samples, 50), 2), "p95_ms": round(percentile(samples, 95), 2),
               "exact_p50_ms": round(percentile(exact_ms, 50), 3), "insert_s": round(insert_s, 1),
               "index_s": round(index_s, 1), "server_peak_rss_mb": round(peak_rss_mb(server_pid), 1)}
    return judged(f"milvus scale recall@10, {n:,} vectors", f"recall@10 {recall:.3f}, p50 {figures['p50_ms']:.1f} ms "
                  f"(p95 {figures['p95_ms']:.1f})", f"exact search 1.000, p50 {figures['exact_p50_ms']:.2f} ms in process",
                  recall, Target(">=", 0.95), figures,
                  note=f"Milvus Lite HNSW (M={layout.HNSW_M}, efConstruction={layout.HNSW_EF_CONSTRUCTION}, "
                       f"ef={max(k, layout.HNSW_EF_SEARCH)}), k={k} over gRPC; inserting took {insert_s:.0f} s, "
                       f"flushing and indexing {index_s:.0f} s; server peak RSS {figures['server_peak_rss_mb']:.0f} MB")


def run(ctx: Context, vectors: int = SCALE_VECTORS, queries: int = SCALE_QUERIES) -> list[Row]:
    with milvus_lite_server(ctx.work / "milvus") as (address, pid):
        rows = [answer_row(ctx, address), search_row(ctx, address)]
    with milvus_lite_server(ctx.work / "milvus-scale") as (address, pid):
        rows.append(scale_row(address, pid, vectors, queries))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.milvus", description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=SCALE_VECTORS, help="size of the scale set")
    parser.add_argument("--queries", type=int, default=SCALE_QUERIES)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rag-bench-milvus-") as work:
        print("[bench] loading the model and building the five-article index", file=sys.stderr, flush=True)
        ctx = open_context(FULL, Path(work))
        rows = run(ctx, args.vectors, args.queries)
    print(render(rows, machine(), "milvus rows", time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
