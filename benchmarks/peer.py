"""Row "peer": a plain LangChain-style pipeline on the same machine, model and articles.

The peer splits each raw article with `RecursiveCharacterTextSplitter`
(`add_start_index=True` gives each chunk its offset in the raw file), embeds
the chunks with the same model, puts them in an `IndexFlatIP` and answers
with its top 5 chunks: no paragraphs, no sentences, no BM25, no extractive
answer. Its chunk size and overlap are the project's settings, so the
comparison is of what is done with them. hit@5 and hit@3 are
`rag.evaluation`'s, computed by the same `evaluate` on the peer's passages (a
passage hits when its raw range overlaps a gold evidence range of the same
article), on every question set of `context.QUESTION_SETS`. A follow-up is
asked after its history by both; the peer, a plain pipeline, searches the
question alone. The project must never score below the peer (issue 10); on
the dev set its hit@5 must be strictly better (issue 7).
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Sequence

import faiss
import numpy as np
from langchain_text_splitters import RecursiveCharacterTextSplitter

from benchmarks.context import Context, question_sets
from benchmarks.measure import percentile, seconds
from benchmarks.report import Row, Target, judged, reported, skipped
from rag.evaluation.run import evaluate
from rag.ingest.corpus import load_corpus
from rag.pipeline import RAG, ensure_index
from rag.schema import Answer, Chunk, Document, Passage, Turn

TOP_K = 5


class Peer:
    """The plain pipeline: split, embed, flat inner-product search, top chunks as the answer."""

    def __init__(self, documents: list[Document], model, chunk_size: int, chunk_overlap: int, batch_size: int) -> None:
        splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap,
                                                  add_start_index=True)
        self.model = model
        self.chunks: list[Chunk] = []
        for document in documents:
            for piece in splitter.create_documents([document.raw]):
                start = piece.metadata["start_index"]
                self.chunks.append(Chunk(chunk_id=len(self.chunks), doc_id=document.doc_id, paragraph=0, start=start,
                                         end=start + len(piece.page_content), text=piece.page_content))
        vectors = model.encode_document([c.text for c in self.chunks], batch_size=batch_size,
                                        normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def ask(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        """The top chunks for `question` alone: a plain pipeline does not read the conversation."""
        started = time.perf_counter()
        vector = self.model.encode_query([question], normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False)
        scores, ids = self.index.search(np.asarray(vector, dtype=np.float32), TOP_K)
        passages = tuple(Passage(chunk=self.chunks[i], score=float(s), rank=rank)
                         for rank, (i, s) in enumerate(zip(ids[0], scores[0], strict=True), start=1) if i >= 0)
        return Answer(question=question, text="\n\n".join(p.chunk.text for p in passages), citations=(),
                      passages=passages, refused=False,
                      timings_ms={"total": (time.perf_counter() - started) * 1000})


def run(ctx: Context) -> list[Row]:
    settings = ctx.settings
    documents, _ = load_corpus(settings.corpus_dir)
    peer_holder: list[Peer] = []
    peer_build = seconds(lambda: peer_holder.append(Peer(documents, ctx.model, settings.chunk_size,
                                                         settings.chunk_overlap, settings.embed_batch_size)))
    peer = peer_holder[0]
    project_settings = settings.replace(index_dir=ctx.work / "peer-compare-index")
    with contextlib.redirect_stderr(io.StringIO()):
        project_build = seconds(lambda: ensure_index(project_settings, ctx.embedder, force=True))
    rag = ctx.rag()
    peer_ms, project_ms = [], []
    for _ in range(ctx.sizes.latency_rounds):
        for question in ctx.questions:
            peer_ms.append(seconds(lambda: peer.ask(question)) * 1000)
            project_ms.append(seconds(lambda: rag.ask(question)) * 1000)
    figures = {"peer_chunks": len(peer.chunks), "peer_build_s": round(peer_build, 3),
               "project_build_s": round(project_build, 3),
               "peer_p50_ms": round(percentile(peer_ms, 50), 2), "project_p50_ms": round(percentile(project_ms, 50), 2)}
    return [
        judged("peer: answer latency", f"project p50 {figures['project_p50_ms']:.1f} ms",
               f"peer p50 {figures['peer_p50_ms']:.1f} ms", figures["project_p50_ms"] / figures["peer_p50_ms"],
               Target("<=", 1.0), figures, note="the peer answers with raw chunks: no BM25, no extractive answer"),
        *_hit_rows(documents, peer, rag),
        reported("peer: index build", f"project {project_build:.2f} s", f"peer {peer_build:.2f} s",
                 project_build / peer_build, figures,
                 note="the project also embeds every sentence and builds BM25; the issue sets no target here"),
    ]


def _hit_rows(documents: list[Document], peer: Peer, rag: RAG) -> list[Row]:
    """hit@5 and hit@3 of the project against the peer's, on every question set."""
    rows = []
    for label, path, questions in question_sets(documents):
        if questions is None:
            rows += [skipped(f"peer: {label} hit@{k}", f"{path} is absent; set skipped") for k in (5, 3)]
            continue
        peer_report, project_report = evaluate(questions, peer.ask), evaluate(questions, rag.ask)
        followups = sum(bool(q.history) for q in questions)
        for k in (5, 3):
            ours, theirs = project_report.metric(f"hit@{k}"), peer_report.metric(f"hit@{k}")
            # Strictly better on dev for hit@5 (issue 7's target); never worse anywhere (issue 10's).
            target = Target(">", 1.0) if (label, k) == ("dev", 5) else Target(">=", 1.0)
            figures = {"set": label, "k": k, "project": ours.value, "peer": theirs.value, "answerable": ours.n,
                       "questions": len(questions), "followups": followups}
            rows.append(judged(f"peer: {label} hit@{k}", f"project hit@{k} {ours.value:.3f}",
                               f"peer hit@{k} {theirs.value:.3f}", ratio_of(ours.value, theirs.value), target, figures,
                               note=f"{ours.n} answerable of {len(questions)} questions ({followups} follow-ups); "
                                    f"target {'strictly better' if target.op == '>' else 'never worse'}"))
    return rows


def ratio_of(ours: float, theirs: float) -> float:
    if theirs:
        return ours / theirs
    return 1.0 if ours == theirs else float("inf")
