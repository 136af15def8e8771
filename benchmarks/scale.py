"""Row "scale": the FAISS index the project picks for a million vectors, against exact search.

The measuring runs in a child process (`python -m benchmarks.scale`), so its
peak RSS is its own and its gigabytes leave with it. The child generates
clustered unit vectors (`synthetic.clustered_vectors`), builds the project's
index with `rag.index.files._faiss_index` (the very function `build_index` calls,
so type and parameters are the project's) and an `IndexFlatIP` over the same
vectors, then searches one query at a time as `Retriever` does (k =
`Settings.candidates`). recall@10 compares the first 10 results with the exact
top 10. It also times exact search at smaller sizes, to place the threshold
below which the project stays exact.

With `--quick` the base is small enough that the project would pick exact
search; the child then lowers `EXACT_SEARCH_MAX` in its own process so the
index built is the type picked for a million, and the row says so.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from benchmarks.context import Context
from benchmarks.measure import PYTHON, child_env, own_peak_rss_mb, percentile, run_child
from benchmarks.report import Row, Target, judged, reported
from benchmarks.synthetic import clustered_vectors
from rag.config import Settings
from rag.index import files as project_index

DIMENSION = 384
PICKED_AT = 1_000_000
LATENCY_QUERIES = 50  # single-query timings of exact search over the full base (~0.3 s each at 1M)
CROSSING_QUERIES = 50


def measure(n: int, queries: int, crossing: tuple[int, ...], scratch: Path) -> dict:
    """Every figure of the row, for `n` base vectors and `queries` held-out queries; `scratch` is a file path it may use."""
    k = Settings().candidates
    started = time.perf_counter()
    vectors = clustered_vectors(n + queries, DIMENSION)
    base, probes = vectors[:n], vectors[n:]
    figures: dict = {"vectors": n, "queries": queries, "k": k, "generate_s": round(time.perf_counter() - started, 1)}

    flat = faiss.IndexFlatIP(DIMENSION)
    flat.add(base)
    _, truth = flat.search(probes, 10)
    flat_ms = _single_query_ms(flat, probes[:LATENCY_QUERIES], k)
    figures["flat_p50_ms"] = round(percentile(flat_ms, 50), 3)
    figures["exact_p50_ms_by_size"] = _crossing(base, probes, crossing, k)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    figures["exact_p50_ms_by_size_1_thread"] = _crossing(base, probes, crossing, k)
    faiss.omp_set_num_threads(threads)
    del flat

    forced = n <= project_index.EXACT_SEARCH_MAX < PICKED_AT
    if forced:
        project_index.EXACT_SEARCH_MAX = n - 1
    rss_before = _rss_mb()
    started = time.perf_counter()
    index, kind = project_index._faiss_index(base)
    figures.update(kind=kind, forced_choice=forced, build_s=round(time.perf_counter() - started, 1),
                   index_rss_mb=round(_rss_mb() - rss_before, 1))
    # Written to disk, not serialised in memory: a second copy would double the peak RSS reported.
    faiss.write_index(index, str(scratch))
    figures["bytes_per_vector"] = round(scratch.stat().st_size / n, 1)
    scratch.unlink()
    del vectors, base

    found = np.empty((queries, k), dtype=np.int64)
    index_ms = _single_query_ms(index, probes, k, found)
    figures["p50_ms"] = round(percentile(index_ms, 50), 3)
    figures["p95_ms"] = round(percentile(index_ms, 95), 3)
    figures["recall_at_10"] = round(_recall(found[:, :10], truth), 4)
    if hasattr(index, "hnsw"):
        figures["ef_search_stored"] = index.hnsw.efSearch
        figures["by_ef_search"] = _ef_sweep(index, probes, truth, k)
    figures["peak_rss_mb"] = round(own_peak_rss_mb(), 1)
    return figures


def _crossing(base: np.ndarray, probes: np.ndarray, sizes: tuple[int, ...], k: int) -> dict[int, float]:
    """p50 ms of one exact search over the first `size` vectors, for each size."""
    return {size: round(percentile(_single_query_ms(_flat(base[:size]), probes[:CROSSING_QUERIES], k), 50), 3)
            for size in sizes if size <= len(base)}


def _flat(vectors: np.ndarray) -> faiss.Index:
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    return flat


def _single_query_ms(index: faiss.Index, probes: np.ndarray, k: int, found: np.ndarray | None = None) -> list[float]:
    samples = []
    for i in range(len(probes)):
        started = time.perf_counter()
        _, ids = index.search(probes[i:i + 1], k)
        samples.append((time.perf_counter() - started) * 1000)
        if found is not None:
            found[i] = ids[0]
    return samples


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / truth.shape[1]
                          for f, t in zip(found, truth, strict=True)]))


def _ef_sweep(index: faiss.Index, probes: np.ndarray, truth: np.ndarray, k: int) -> dict:
    """recall@10 and p50 at other efSearch values: what setting `HNSW_EF_SEARCH` would change."""
    stored = index.hnsw.efSearch
    sweep = {}
    for ef in (16, 32, 64, 128):
        index.hnsw.efSearch = ef
        found = np.empty((len(probes), k), dtype=np.int64)
        ms = _single_query_ms(index, probes, k, found)
        sweep[ef] = {"recall_at_10": round(_recall(found[:, :10], truth), 4), "p50_ms": round(percentile(ms, 50), 3)}
    index.hnsw.efSearch = stored
    return sweep


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    out = ctx.work / "scale.json"
    child = run_child([PYTHON, "-m", "benchmarks.scale", str(sizes.vectors), str(sizes.queries), str(out),
                       *map(str, sizes.crossing_sizes)], child_env(), timeout_s=1800)
    if child.returncode != 0:
        raise RuntimeError(f"the scale child exited with {child.returncode}: {child.stderr.strip()[-600:]}")
    f = json.loads(out.read_text())
    f["child_peak_rss_mb"] = round(max(child.peak_rss_mb, f["peak_rss_mb"]), 1)
    n = f"{f['vectors']:,}"
    kind = f["kind"] + (f" (the {PICKED_AT:,}-vector choice, forced)" if f["forced_choice"] else "")
    speedup = f["flat_p50_ms"] / f["p50_ms"]
    one_thread = f["exact_p50_ms_by_size_1_thread"]
    crossing = ", ".join(f"{int(size):,}: {ms:.2f} ms ({one_thread[size]:.2f} ms)"
                         for size, ms in f["exact_p50_ms_by_size"].items())
    note = (f"{kind}, built in {f['build_s']} s; k={f['k']} per query as Retriever asks; "
            f"exact search p50 by size, FAISS default threads (1 thread): {crossing}")
    if "by_ef_search" in f:
        sweep = ", ".join(f"ef {ef}: recall {v['recall_at_10']:.3f} at {v['p50_ms']:.2f} ms"
                          for ef, v in f["by_ef_search"].items())
        note += f"; stored efSearch {f['ef_search_stored']}; sweep: {sweep}"
    return [
        judged(f"scale recall@10, {n} vectors", f"recall@10 {f['recall_at_10']:.3f}", "exact search 1.000",
               f["recall_at_10"], Target(">=", 0.95), f, note=note),
        judged(f"scale speed-up, {n} vectors", f"p50 {f['p50_ms']:.2f} ms (p95 {f['p95_ms']:.2f})",
               f"exact search p50 {f['flat_p50_ms']:.1f} ms", speedup, Target(">=", 10), f,
               note="ratio is exact p50 / index p50 (higher is better)"),
        reported(f"memory: scale run peak RSS, {n} vectors",
                 f"{f['child_peak_rss_mb']:.0f} MB; index {f['bytes_per_vector']:.0f} B/vector",
                 f"raw float32 vectors {DIMENSION * 4} B/vector", f["bytes_per_vector"] / (DIMENSION * 4), f,
                 note="the peak holds the generated vectors and one index at a time (exact, then the project's); "
                      f"the project's index alone grew RSS by {f['index_rss_mb']:.0f} MB"),
    ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="scale row worker (run by benchmarks.run)")
    parser.add_argument("vectors", type=int)
    parser.add_argument("queries", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("crossing", type=int, nargs="*")
    args = parser.parse_args(argv)
    figures = measure(args.vectors, args.queries, tuple(args.crossing), args.out.with_suffix(".faiss"))
    args.out.write_text(json.dumps(figures), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
