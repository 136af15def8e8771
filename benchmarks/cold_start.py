"""Row "cold start": `python -m rag ask "…"` with a built index, against a bare script.

The bare script is the least a fresh process must do to answer anything:
import sentence-transformers, load the model in use, encode one query. The two run
alternately, `cold_starts` times each, after one untimed run of each (so both
find the model files in the page cache; skipped with --quick). Their peak RSS comes with them; the
bare script's is the floor of the server's memory row.
"""

from __future__ import annotations

from benchmarks.context import Context, model_env
from benchmarks.measure import PYTHON, ChildRun, child_env, median, run_child
from benchmarks.report import Row, Target, judged
from rag.models.embedding import resolve_model_path

BARE_SCRIPT = """
import os
os.environ["HF_HUB_OFFLINE"] = "1"
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(MODEL_DIR, device="cpu", local_files_only=True)
model.encode_query(["QUESTION"], normalize_embeddings=True, convert_to_numpy=True)
"""


def measure(ctx: Context) -> tuple[list[ChildRun], list[ChildRun]]:
    question = ctx.questions[0]
    env = child_env(**model_env(ctx.settings))  # the model in use, whatever RAG_MODEL says outside
    ask = [PYTHON, "-m", "rag", "ask", question]
    model_dir = str(resolve_model_path(ctx.settings.model_path, ctx.settings.model))
    script = BARE_SCRIPT.replace("MODEL_DIR", repr(model_dir)).replace("QUESTION", question.replace('"', ""))
    bare = [PYTHON, "-c", script]
    if ctx.sizes.cold_starts > 1:  # --quick skips these: the bench has just read the model files anyway
        _checked(run_child(ask, env), "python -m rag ask")
        _checked(run_child(bare, env), "the bare script")
    asks, bares = [], []
    for _ in range(ctx.sizes.cold_starts):
        asks.append(_checked(run_child(ask, env), "python -m rag ask"))
        bares.append(_checked(run_child(bare, env), "the bare script"))
    return asks, bares


def _checked(run: ChildRun, what: str) -> ChildRun:
    if run.returncode != 0:
        raise RuntimeError(f"{what} exited with {run.returncode}: {run.stderr.strip()[-400:]}")
    return run


def run(ctx: Context) -> tuple[list[Row], float]:
    """The row, and the bare script's peak RSS in MB (the floor of the server's memory)."""
    asks, bares = measure(ctx)
    ask_s, bare_s = median([r.wall_s for r in asks]), median([r.wall_s for r in bares])
    bare_rss = max(r.peak_rss_mb for r in bares)
    figures = {"runs": len(asks), "ask_wall_s": round(ask_s, 3), "bare_wall_s": round(bare_s, 3),
               "ask_peak_rss_mb": round(max(r.peak_rss_mb for r in asks), 1), "bare_peak_rss_mb": round(bare_rss, 1)}
    row = judged("cold start", f"`python -m rag ask` {ask_s:.2f} s", f"import + load model + encode {bare_s:.2f} s",
                 ask_s / bare_s, Target("<=", 1.3), figures,
                 note=f"peak RSS {figures['ask_peak_rss_mb']:.0f} MB vs {bare_rss:.0f} MB for the bare script")
    return [row], bare_rss
