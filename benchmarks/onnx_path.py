"""Rows "ONNX path …": the query path on ONNX Runtime beside the torch path, measured in the same run (issue 21).

* query encoding: the embedder's `encode_query` on the ONNX export against a
  bare sentence-transformers model encoding the same question, interleaved
  (target: ONNX p50 at most torch's);
* batch encoding: `encode_exact` (what a build calls) of the five articles'
  chunks and sentences on each path, alternately, least of the repeats
  (target: ONNX at most torch; the build uses whichever is faster);
* cold one-shot ask: `python -m rag ask "…"` with the built index, run
  alternately with RAG_ENCODER=onnx and torch (target: ONNX at most 1.0 s
  wall), and which heavy modules a one-shot ask imported (`-X importtime`);
* server memory after start: `python -m rag serve` on each path, VmRSS once it
  answers, against the floor: a bare process that imports what serving needs
  (the web stack, FAISS, ONNX Runtime, tokenizers) and loads the same ONNX
  graph and index files (`memory_floor`; target 1.2). The soak row
  (`soak.py`) divides its last minute by the same floor (target 1.4).
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import time
from pathlib import Path

from benchmarks.context import Context, encode_query, model_env
from benchmarks.measure import PYTHON, ROOT, child_env, free_port, median, percentile, rss_mb, run_child
from benchmarks.report import Row, Target, judged
from benchmarks.served import stop_server, wait_ready
from rag.config import Settings
from rag.index.files import current_build
from rag.ingest.chunking import chunk_documents, split_documents_into_sentences
from rag.ingest.corpus import load_corpus
from rag.models.embedding import resolve_model_path
from rag.models.onnx_record import export_dir
from rag.pipeline import load_embedder

COLD_ASK_S = 1.0
HEAVY = ("torch", "sentence_transformers", "transformers", "gradio", "fastapi", "pymilvus", "bm25s", "scipy")
FLOOR_SCRIPT = """
import time
import faiss, fastapi, gradio, numpy, onnxruntime, tokenizers, uvicorn
options = onnxruntime.SessionOptions()
options.intra_op_num_threads = 1
session = onnxruntime.InferenceSession(GRAPH, options, providers=["CPUExecutionProvider"])
tokenizer = tokenizers.Tokenizer.from_file(TOKENIZER)
index = faiss.read_index(BUILD + "/chunks.faiss")
arrays = [numpy.load(BUILD + name, allow_pickle=False) for name in ("/sentences.npy", "/words.npy")]
ids = tokenizer.encode("Who opposed the Tokyo office?")
session.run(None, {i.name: numpy.array([ids.ids if i.name == "input_ids" else ids.attention_mask if
                                        i.name == "attention_mask" else ids.type_ids]) for i in session.get_inputs()})
for line in open("/proc/self/status"):
    if line.startswith("VmRSS:"):
        print(int(line.split()[1]) / 1024)
"""


def memory_floor_mb(settings: Settings) -> float:
    """VmRSS of a bare process holding what a server needs and nothing of the project (median of three)."""
    model_dir = resolve_model_path(settings.model_path, settings.model)
    script = (FLOOR_SCRIPT.replace("GRAPH", repr(str(export_dir(model_dir) / "model.onnx")))
              .replace("TOKENIZER", repr(str(model_dir / "tokenizer.json")))
              .replace("BUILD", repr(str(current_build(settings.index_dir)))))
    runs = [run_child([PYTHON, "-c", script], child_env()) for _ in range(3)]
    failed = [r for r in runs if r.returncode != 0]
    if failed:
        raise RuntimeError(f"the memory floor script exited with {failed[0].returncode}: {failed[0].stderr[-400:]}")
    return median([float(r.stdout.strip().splitlines()[-1]) for r in runs])


def run(ctx: Context) -> list[Row]:
    torch_settings = ctx.settings.replace(encoder="torch")
    with contextlib.redirect_stderr(io.StringIO()):
        torch_embedder = load_embedder(torch_settings)
    rows = [_query_row(ctx), _batch_row(ctx, torch_embedder)]
    del torch_embedder
    rows.append(_cold_row(ctx))
    rows.append(_server_row(ctx, memory_floor_mb(ctx.settings)))
    return rows


def _query_row(ctx: Context) -> Row:
    onnx, torch = [], []
    for question in ctx.questions[:3]:
        ctx.embedder.encode_query(question)
        encode_query(ctx.model, question)
    for _ in range(ctx.sizes.latency_rounds):
        for question in ctx.questions:
            started = time.perf_counter()
            encode_query(ctx.model, question)
            torch.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            ctx.embedder.encode_query(question)
            onnx.append((time.perf_counter() - started) * 1000)
    figures = {"queries": len(onnx), "onnx_p50_ms": round(percentile(onnx, 50), 2),
               "onnx_p95_ms": round(percentile(onnx, 95), 2), "torch_p50_ms": round(percentile(torch, 50), 2),
               "torch_p95_ms": round(percentile(torch, 95), 2)}
    return judged("ONNX path: one query's encoding p50", f"ONNX Runtime p50 {figures['onnx_p50_ms']:.1f} ms",
                  f"torch (sentence-transformers) p50 {figures['torch_p50_ms']:.1f} ms",
                  figures["onnx_p50_ms"] / figures["torch_p50_ms"], Target("<=", 1.0), figures,
                  note=f"interleaved; p95 {figures['onnx_p95_ms']:.1f} ms against {figures['torch_p95_ms']:.1f} ms")


def _batch_row(ctx: Context, torch_embedder: object) -> Row:
    documents, _ = load_corpus(ctx.settings.corpus_dir)
    texts = [c.clean for c in chunk_documents(documents, ctx.settings.chunk_size, ctx.settings.chunk_overlap)]
    texts += [s.clean for s in split_documents_into_sentences(documents)]
    onnx, torch = [], []
    for _ in range(ctx.sizes.build_repeats):
        for times, embedder in ((torch, torch_embedder), (onnx, ctx.embedder)):
            started = time.perf_counter()
            embedder.encode_exact(texts)  # type: ignore[attr-defined]
            times.append(time.perf_counter() - started)
    figures = {"texts": len(texts), "onnx_s": round(min(onnx), 3), "torch_s": round(min(torch), 3),
               "repeats": len(onnx)}
    return judged("ONNX path: batch encoding (what a build calls)", f"ONNX Runtime {min(onnx):.2f} s",
                  f"torch {min(torch):.2f} s", min(onnx) / min(torch), Target("<=", 1.0), figures,
                  note=f"`encode_exact` of the five articles' {len(texts)} chunks and sentences, least of "
                       f"{len(onnx)}; the build runs on the faster path")


def _cold_row(ctx: Context) -> Row:
    question = ctx.questions[0]
    ask = [PYTHON, "-m", "rag", "ask", question]
    envs = {name: child_env(**model_env(ctx.settings), RAG_ENCODER=name) for name in ("onnx", "torch")}
    walls: dict[str, list[float]] = {"onnx": [], "torch": []}
    for round_ in range(ctx.sizes.cold_starts + 1):
        for name, env in envs.items():
            run = run_child(ask, env)
            if run.returncode != 0:
                raise RuntimeError(f"python -m rag ask ({name}) exited with {run.returncode}: {run.stderr[-400:]}")
            if round_:  # the first round only brings the files into the page cache
                walls[name].append(run.wall_s)
    traced = run_child([PYTHON, "-X", "importtime", "-m", "rag", "ask", question], envs["onnx"])
    imported = {line.split("|")[-1].strip() for line in traced.stderr.splitlines() if line.startswith("import time:")}
    heavy = [name for name in HEAVY if name in imported]
    onnx_s, torch_s = median(walls["onnx"]), median(walls["torch"])
    figures = {"runs": len(walls["onnx"]), "onnx_wall_s": round(onnx_s, 3), "torch_wall_s": round(torch_s, 3),
               "onnx_walls_s": [round(s, 3) for s in walls["onnx"]], "heavy_imports": heavy}
    return judged("ONNX path: cold one-shot `python -m rag ask`", f"ONNX Runtime {onnx_s:.2f} s wall",
                  f"target {COLD_ASK_S:.1f} s (torch path {torch_s:.2f} s)", onnx_s / COLD_ASK_S,
                  Target("<=", 1.0), figures,
                  note=f"median of {len(walls['onnx'])} alternating runs; imported of {', '.join(HEAVY)}: "
                       f"{', '.join(heavy) or 'none'}")


def server_rss_after_start(settings: Settings, encoder: str, question: str, log_dir: Path) -> float:
    """VmRSS of `python -m rag serve` on `encoder` once it has answered one question."""
    port = free_port()
    log_path = log_dir / f"server-{encoder}.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([PYTHON, "-m", "rag", "serve", "--port", str(port)], stdout=log,
                                  stderr=subprocess.STDOUT, env=child_env(**model_env(settings), RAG_ENCODER=encoder),
                                  cwd=ROOT)
    try:
        error = wait_ready(server, f"http://127.0.0.1:{port}/api/ask", question, log_path)
        if error:
            raise RuntimeError(f"the {encoder} server: {error}")
        time.sleep(1.0)
        return rss_mb(server.pid)
    finally:
        stop_server(server)


def _server_row(ctx: Context, floor_mb: float) -> Row:
    onnx = server_rss_after_start(ctx.settings, "onnx", ctx.questions[0], ctx.work)
    torch = server_rss_after_start(ctx.settings, "torch", ctx.questions[0], ctx.work)
    figures = {"onnx_rss_mb": round(onnx, 1), "torch_rss_mb": round(torch, 1), "floor_rss_mb": round(floor_mb, 1)}
    return judged("ONNX path: server RSS after start", f"{onnx:.0f} MB (torch path {torch:.0f} MB)",
                  f"bare process: web stack, FAISS, ONNX Runtime, same graph and index {floor_mb:.0f} MB",
                  onnx / floor_mb, Target("<=", 1.2), figures)


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.onnx_path [--quick]`: these rows and the answer latency rows alone."""
    import argparse
    import tempfile

    from benchmarks import latency
    from benchmarks.context import FULL, QUICK, open_context
    from benchmarks.report import machine, render

    parser = argparse.ArgumentParser(prog="python -m benchmarks.onnx_path", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rag-bench-onnx-") as work:
        ctx = open_context(QUICK if args.quick else FULL, Path(work))
        rows = latency.run(ctx) + run(ctx)
    print(render(rows, machine(), "quick" if args.quick else "full", time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
