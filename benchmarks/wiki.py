"""Rows "wiki": incremental updates of a generated wiki, and a full build of a large one.

Incremental (`incremental_pages` pages, Markdown and HTML in nested folders,
`benchmarks.wiki_corpus`): a full build, then `python -m rag index`'s work
(`ensure_index`) after one page is edited, then after 1% of the pages are
edited; each against the full build's time. Then a full rebuild of the edited
wiki in another folder: its published vectors (chunk and sentence vectors,
word vectors, neighbours) must equal the incremental build's byte for byte.

Large (`large_pages` pages): `python -m rag index` in a child process (its
wall time and peak RSS), against the bare model encoding the same distinct
texts the build embeds (chunks, sentences and the neighbour vocabulary's
words); the index's size on disk per vector; then answer latency on it
against one query embedding plus one search of its FAISS index.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import time
from pathlib import Path

import faiss
import numpy as np

from benchmarks.context import Context, encode_documents, model_env
from benchmarks.measure import PYTHON, percentile, run_child, seconds
from benchmarks.report import Row, Target, judged, reported
from benchmarks.wiki_corpus import edit_pages, write_wiki
from rag.index.files import current_build
from rag.pipeline import RAG, ensure_index

ONE_PAGE = Target("<=", 0.05)
ONE_PERCENT = Target("<=", 0.10)
BUILD = Target("<=", 1.25)
QUESTIONS = ("What did the alliance say about the office?", "Who opposed the plan?",
             "When will the summit take place?", "What is China's position?", "Where is the liaison office?",
             "Why is Japan interested?", "How many members does the alliance have?", "What did Macron say?")


def run(ctx: Context) -> list[Row]:
    return incremental(ctx) + large(ctx)


def incremental(ctx: Context) -> list[Row]:
    pages = ctx.sizes.wiki_pages
    wiki = ctx.work / "wiki"
    paths = write_wiki(ctx.settings.corpus_dir, wiki, pages, ctx.sizes.wiki_paragraphs)
    settings = ctx.settings.replace(corpus_dir=wiki, index_dir=ctx.work / "wiki-index")
    quiet = contextlib.redirect_stderr(io.StringIO())
    with quiet:
        full = _timed(lambda: ensure_index(settings, ctx.embedder, force=True))
        edit_pages(ctx.settings.corpus_dir, [paths[pages // 2]], seed=1)
        one = _timed(lambda: ensure_index(settings, ctx.embedder))
        changed = random.Random(2).sample(paths, max(1, pages // 100))
        edit_pages(ctx.settings.corpus_dir, changed, seed=2)
        percent = _timed(lambda: ensure_index(settings, ctx.embedder))
        rebuilt_settings = settings.replace(index_dir=ctx.work / "wiki-index-full")
        rebuild = _timed(lambda: ensure_index(rebuilt_settings, ctx.embedder, force=True))
    equal = _published_vectors(settings.index_dir) == _published_vectors(rebuilt_settings.index_dir)
    full_s = min(full[0], rebuild[0])  # two full builds; noise only ever adds time
    report = full[1]
    figures = {"pages": pages, "paragraphs_per_page": ctx.sizes.wiki_paragraphs,
               "documents": len(report.documents), "full_build_s": round(full[0], 2),
               "full_rebuild_s": round(rebuild[0], 2), "one_page_s": round(one[0], 2),
               "one_page_embedded": one[1].embedded, "one_page_reused": one[1].reused,
               "one_percent_pages": len(changed), "one_percent_s": round(percent[0], 2),
               "one_percent_embedded": percent[1].embedded, "vectors_equal": equal}
    floor = f"full build {full_s:.1f} s ({pages:,} pages)"
    return [
        judged(f"wiki update, 1 of {pages:,} pages edited", f"{one[0]:.2f} s, {one[1].embedded} texts embedded",
               floor, one[0] / full_s, ONE_PAGE, figures),
        judged(f"wiki update, {len(changed)} pages (1%) edited",
               f"{percent[0]:.2f} s, {percent[1].embedded:,} texts embedded", floor, percent[0] / full_s,
               ONE_PERCENT, figures),
        judged("wiki update: published vectors equal a full rebuild's", "equal" if equal else "DIFFERENT",
               "full rebuild of the same pages", 1.0 if equal else 0.0, Target(">=", 1.0), figures),
    ]


def large(ctx: Context) -> list[Row]:
    pages = ctx.sizes.large_pages
    wiki = ctx.work / "large-wiki"
    write_wiki(ctx.settings.corpus_dir, wiki, pages, 1, seed=3)
    settings = ctx.settings.replace(corpus_dir=wiki, index_dir=ctx.work / "large-index")
    env = {**os.environ, **model_env(settings), "TOKENIZERS_PARALLELISM": "false"}
    child = run_child([PYTHON, "-m", "rag", "index", "--force", "--quiet"], env=env, timeout_s=4 * 3600)
    if child.returncode != 0:
        raise RuntimeError(f"the large wiki build failed: {child.stderr[-2000:]}")
    build = current_build(settings.index_dir)
    texts = _embedded_texts(build)
    floor_s = seconds(lambda: encode_documents(ctx.model, texts, settings.embed_batch_size))
    size = sum(p.stat().st_size for p in build.rglob("*") if p.is_file())
    manifest_counts = _counts(build)
    vectors = manifest_counts["chunks"] + manifest_counts["sentences"] + manifest_counts["words"]
    rag = RAG(settings, ctx.embedder)
    asks, floors = _latency(rag, ctx.model, ctx.sizes.latency_rounds)
    figures = {"pages": pages, **manifest_counts, "distinct_texts_embedded": len(texts),
               "build_s": round(child.wall_s, 2), "encode_floor_s": round(floor_s, 2),
               "peak_rss_mb": round(child.peak_rss_mb), "index_bytes": size,
               "bytes_per_vector": round(size / vectors), "ask_p50_ms": round(percentile(asks, 50), 2),
               "ask_p95_ms": round(percentile(asks, 95), 2), "floor_p50_ms": round(percentile(floors, 50), 2),
               "faiss": rag.manifest["faiss"]["type"]}
    floor_text = f"encode 1 query + search p50 {figures['floor_p50_ms']:.1f} ms"
    return [
        judged(f"wiki build, {pages:,} pages", f"build {child.wall_s:.1f} s ({manifest_counts['chunks']:,} chunks)",
               f"encode {len(texts):,} distinct texts {floor_s:.1f} s", child.wall_s / floor_s, BUILD, figures,
               note="the build is a child process: it also loads the model and reads every page"),
        reported(f"wiki build, {pages:,} pages: peak RSS", f"{child.peak_rss_mb:.0f} MB",
                 "-", None, figures),
        reported(f"wiki index size, {pages:,} pages", f"{size / vectors:.0f} B/vector ({size / 2**20:.0f} MB)",
                 "raw float32 vector 1536 B", size / vectors / 1536, figures),
        judged(f"wiki answer latency p50, {pages:,} pages", f"ask p50 {figures['ask_p50_ms']:.1f} ms", floor_text,
               figures["ask_p50_ms"] / figures["floor_p50_ms"], Target("<=", 1.5), figures),
        judged(f"wiki answer latency p95, {pages:,} pages", f"ask p95 {figures['ask_p95_ms']:.1f} ms", floor_text,
               figures["ask_p95_ms"] / figures["floor_p50_ms"], Target("<=", 2.5), figures),
    ]


def _timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def _published_vectors(index_dir: Path) -> dict[str, bytes]:
    build = current_build(index_dir)
    return {name: (build / name).read_bytes()
            for name in ("chunks.faiss", "sentences.npy", "words.npy", "words.json", "neighbours.json")}


def _embedded_texts(build: Path) -> list[str]:
    import json

    texts = [json.loads(line)["clean"] for name in ("chunks.jsonl", "sentences.jsonl")
             for line in (build / name).read_text(encoding="utf-8").splitlines()]
    return list(dict.fromkeys(texts)) + json.loads((build / "words.json").read_text(encoding="utf-8"))


def _counts(build: Path) -> dict[str, int]:
    import json

    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    words = len(json.loads((build / "words.json").read_text(encoding="utf-8")))
    return {"documents": manifest["counts"]["documents"], "chunks": manifest["counts"]["chunks"],
            "sentences": manifest["counts"]["sentences"], "words": words}


def _latency(rag: RAG, model, rounds: int) -> tuple[list[float], list[float]]:
    """Milliseconds of `ask`, and of the bare model's query embedding plus one search of the same index."""
    # The served build's own FAISS file: the floor searches the very vectors `ask` does.
    index = faiss.read_index(str(current_build(rag.settings.index_dir) / "chunks.faiss"))
    for question in QUESTIONS[:3]:
        rag.ask(question)
    asks, floors = [], []
    for _ in range(rounds):
        for question in QUESTIONS:
            started = time.perf_counter()
            vector = model.encode_query([question], normalize_embeddings=True, convert_to_numpy=True,
                                        show_progress_bar=False)
            index.search(np.asarray(vector, dtype=np.float32), 20)
            floors.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            rag.ask(question)
            asks.append((time.perf_counter() - started) * 1000)
    return asks, floors


def main() -> int:
    """`python -m benchmarks.wiki [--quick]`: these rows alone, printed as a table."""
    import argparse
    import tempfile

    from benchmarks.context import FULL, QUICK, open_context
    from benchmarks.report import machine, render

    parser = argparse.ArgumentParser(prog="python -m benchmarks.wiki")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rag-bench-wiki-") as work:
        ctx = open_context(sizes, Path(work))
        rows = run(ctx)
    print(render(rows, machine(), "quick" if args.quick else "full", time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
