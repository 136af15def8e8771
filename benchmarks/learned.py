"""Rows "learned": the learned answerer, cross-validated, beside the dense-only peer on every labeled set.

The learned-answerer issue's comparison. The peer is its plain pipeline:
`RecursiveCharacterTextSplitter` at 600/80 characters over each raw file, the
model in use, a flat inner-product index, its top 5 chunks as the passages
and its top 2 cited whole. The project's figures are leave-one-set-out
(`rag.evaluation.crossval`): each set answered by a model fitted on all the
others, so no row scores a model on questions it was fitted on. Each set is
asked of its own corpus (a wiki set of the pages beside it), by both.

Per set, three rows: hit@5 and citation recall against the peer's (never
lower), and citation precision against the issue's 0.7. Then the learned
answerer's answer latency against one query encoding (at most 1.5 times, as
for the default answerer).
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Sequence

from benchmarks.context import LABELED_SETS, Context
from benchmarks.latency import interleaved
from benchmarks.measure import percentile
from benchmarks.peer import Peer, ratio_of
from benchmarks.report import Row, Target, judged
from rag.evaluation.crossval import Workbench, cross_validate, labeled_set
from rag.evaluation.results import Report
from rag.evaluation.run import evaluate
from rag.ingest.corpus import load_corpus
from rag.pipeline import RAG
from rag.schema import Answer, Citation, Turn

PEER_CHUNK_SIZE, PEER_CHUNK_OVERLAP = 600, 80  # the peer, not the project's settings
PEER_CITED = 2  # chunks the peer cites whole
PRECISION_TARGET = 0.7
LATENCY_TARGET = Target("<=", 1.5)


class CitingPeer(Peer):
    """The plain pipeline, citing its top chunks whole."""

    def ask(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        answer = super().ask(question, history)
        citations = tuple(Citation(n=n, doc_id=p.chunk.doc_id, title=p.chunk.doc_id, paragraph=p.chunk.paragraph,
                                   start=p.chunk.start, end=p.chunk.end, text=p.chunk.text, url="")
                          for n, p in enumerate(answer.passages[:PEER_CITED], start=1))
        return Answer(question=answer.question, text=" ".join(c.text for c in citations), citations=citations,
                      passages=answer.passages, refused=False, timings_ms=answer.timings_ms)


def run(ctx: Context) -> list[Row]:
    sets = [labeled_set(path) for path in LABELED_SETS if path.is_file()]
    with contextlib.redirect_stderr(io.StringIO()):  # model loading and index progress
        bench = Workbench(ctx.settings)
        started = time.perf_counter()
        ours = cross_validate(bench, sets)
    crossval_s = time.perf_counter() - started
    rows: list[Row] = []
    peers: dict[object, CitingPeer] = {}
    for labeled in sets:
        corpus_dir = labeled.corpus_dir or ctx.settings.corpus_dir
        if corpus_dir not in peers:
            documents, _ = load_corpus(corpus_dir)
            peers[corpus_dir] = CitingPeer(documents, ctx.model, PEER_CHUNK_SIZE, PEER_CHUNK_OVERLAP,
                                           ctx.settings.embed_batch_size)
        theirs = evaluate(bench.questions(labeled), peers[corpus_dir].ask)
        rows += _set_rows(labeled.name, ours[labeled.name], theirs, crossval_s)
    bench.close()
    rows.append(_latency_row(ctx))
    return rows


def _set_rows(name: str, ours: Report, theirs: Report, crossval_s: float) -> list[Row]:
    rows = []
    for metric in ("hit@5", "citation_recall"):
        mine, peer = ours.metric(metric).value or 0.0, theirs.metric(metric).value or 0.0
        figures = {"set": name, "metric": metric, "project": mine, "peer": peer, "answerable": ours.metric(metric).n,
                   "crossval_s": round(crossval_s, 1)}
        rows.append(judged(f"learned: {name} {metric.replace('_', ' ')}", f"cross-validated {mine:.3f}",
                           f"peer {peer:.3f}", ratio_of(mine, peer), Target(">=", 1.0), figures,
                           note=f"{ours.metric(metric).n} answerable questions; never below the peer"))
    precision = ours.metric("citation_precision").value or 0.0
    rows.append(judged(f"learned: {name} citation precision", f"cross-validated {precision:.3f}",
                       f"target {PRECISION_TARGET} (peer {theirs.metric('citation_precision').value or 0.0:.3f})",
                       precision / PRECISION_TARGET, Target(">=", 1.0),
                       {"set": name, "project": precision,
                        "peer": theirs.metric("citation_precision").value}))
    return rows


def _latency_row(ctx: Context) -> Row:
    rag = RAG(ctx.settings.replace(answerer="learned"), ctx.embedder)
    try:
        asks, encodes = interleaved(rag, rag.embedder.encode_query, ctx.questions, ctx.sizes.latency_rounds)
    finally:
        rag.close()
    ask, encode = percentile(asks, 50), percentile(encodes, 50)
    figures = {"questions": len(asks), "ask_p50_ms": round(ask, 2), "encode_p50_ms": round(encode, 2)}
    return judged("learned: answer latency p50", f"ask p50 {ask:.1f} ms", f"encode 1 query p50 {encode:.1f} ms",
                  ask / encode, LATENCY_TARGET, figures, note="RAG_ANSWERER=learned, the shipped model; one model "
                                                               "in use, so one query encoding")
