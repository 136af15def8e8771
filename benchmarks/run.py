"""`python -m benchmarks.run [--quick]`: every row, one table, `benchmarks/results.json`.

Rows run one after another in this process (the cold start, server and scale
rows in child processes it starts and waits for), in a temporary folder that
is removed at the end. A row that fails raises: a benchmark that silently
drops a row would hide exactly the regression it exists to catch. The table
is also written to `benchmarks/results.md` for the README.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks import (build, cold_start, latency, learned, milvus, models, onnx_path, peer, scale, served,  # noqa: E402
                        soak, wiki)
from benchmarks.context import FULL, QUICK, open_context  # noqa: E402
from benchmarks.report import Row, machine, render, write_json  # noqa: E402

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI (under 2 minutes)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json", help="where to write the rows as JSON")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"
    started = time.perf_counter()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as work:
        _say("loading the model and building the five-article index")
        ctx = open_context(sizes, Path(work))
        _say(f"index build (generated corpus: {sizes.generated_chunks:,} chunks)")
        rows += build.run(ctx)
        _say("answer latency")
        rows += latency.run(ctx)
        _say("the ONNX path beside the torch path: query, batch, cold ask, server memory")
        rows += onnx_path.run(ctx)
        _say("cold start")
        cold_rows, bare_rss = cold_start.run(ctx)
        rows += cold_rows
        _say("served answers")
        rows += served.run(ctx, bare_rss)
        _say("peer pipeline, on every question set")
        rows += peer.run(ctx)
        _say("the learned answerer, cross-validated, beside the issue's dense-only peer on every labeled set")
        rows += learned.run(ctx)
        _say("the packaged models side by side")
        rows += models.run(ctx)
        _say(f"wiki: incremental updates of {sizes.wiki_pages:,} pages, a build of {sizes.large_pages:,}")
        rows += wiki.run(ctx)
        _say(f"scale ({sizes.vectors:,} vectors)")
        rows += scale.run(ctx)
        if not args.quick:  # minutes of Milvus Lite indexing; `python -m benchmarks.milvus` runs it alone
            _say(f"Milvus beside FAISS (scale: {milvus.SCALE_VECTORS:,} vectors)")
            rows += milvus.run(ctx)
        if not args.quick:  # ten minutes by definition: only `make bench`, never CI's bench-quick
            _say(f"soak ({soak.SOAK_SECONDS // 60} minutes at {soak.CLIENTS} clients, distinct questions)")
            rows += soak.run(ctx)
    elapsed = time.perf_counter() - started
    table = render(rows, machine(), mode, elapsed)
    print(table)
    write_json(args.out, rows)
    (args.out.with_suffix(".md")).write_text(table + "\n", encoding="utf-8")
    return 0


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
