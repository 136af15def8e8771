"""Row "answer latency": `RAG.ask` against encoding the same question alone, model warm.

The two are interleaved question by question (encode, ask, encode, ask...),
so load from elsewhere on the machine falls on both. Both percentiles are
divided by the p50 of the encoding: the floor is what one query costs, on
the path the answers take (the ONNX export run by ONNX Runtime, the
embedder's own `encode_query`; `onnx_path.py` sets it beside torch's).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from benchmarks.context import Context
from benchmarks.measure import percentile
from benchmarks.report import Row, Target, judged
from rag.pipeline import RAG


def sample(ctx: Context, rounds: int) -> tuple[list[float], list[float]]:
    """Milliseconds of `ask` and of the bare query encoding, `rounds` passes over the dev questions."""
    return interleaved(ctx.rag(), ctx.embedder.encode_query, ctx.questions, rounds)


def interleaved(rag: RAG, encode: Callable[[str], object], questions: Sequence[str],
                rounds: int) -> tuple[list[float], list[float]]:
    """Milliseconds of `rag.ask` and of `encode` (one query encoding) of the same question, alternately."""
    for question in questions[:3]:  # warm caches and lazy imports
        rag.ask(question)
    asks, encodes = [], []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            encode(question)
            encodes.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            rag.ask(question)
            asks.append((time.perf_counter() - started) * 1000)
    return asks, encodes


def run(ctx: Context) -> list[Row]:
    asks, encodes = sample(ctx, ctx.sizes.latency_rounds)
    floor = percentile(encodes, 50)
    figures = {"questions": len(asks), "ask_p50_ms": round(percentile(asks, 50), 2),
               "ask_p95_ms": round(percentile(asks, 95), 2), "encode_p50_ms": round(floor, 2),
               "encode_p95_ms": round(percentile(encodes, 95), 2)}
    floor_text = f"encode 1 query p50 {floor:.1f} ms"
    return [
        judged("answer latency p50", f"ask p50 {figures['ask_p50_ms']:.1f} ms", floor_text,
               figures["ask_p50_ms"] / floor, Target("<=", 1.5), figures),
        judged("answer latency p95", f"ask p95 {figures['ask_p95_ms']:.1f} ms", floor_text,
               figures["ask_p95_ms"] / floor, Target("<=", 2.5), figures,
               note=f"encoding alone has p95 {figures['encode_p95_ms']:.1f} ms"),
    ]
