"""Row "peer": a plain LangChain-style pipeline on the same machine, model and articles.

The peer splits each raw article with `RecursiveCharacterTextSplitter`
(`add_start_index=True` gives each chunk its offset in the raw file), embeds
the chunks with the same model, puts them in an `IndexFlatIP` and answers
with its top 5 chunks: no paragraphs, no sentences, no BM25, no extractive
answer. Its chunk size and overlap are the project's settings, so the
comparison is of what is done with them. hit@5 is `rag.evaluate`'s, computed
by the same `evaluate` on the peer's passages (a passage hits when its raw
range overlaps a gold evidence range of the same article).
"""

from __future__ import annotations

import contextlib
import io
import time

import faiss
import numpy as np
from langchain_text_splitters import RecursiveCharacterTextSplitter

from benchmarks.context import DEV_QUESTIONS, Context
from benchmarks.measure import percentile, seconds
from benchmarks.report import Row, Target, judged, reported
from rag import evaluate
from rag.corpus import load_corpus
from rag.pipeline import ensure_index
from rag.schema import Answer, Chunk, Document, Passage

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

    def ask(self, question: str) -> Answer:
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
    questions = evaluate.load_questions(DEV_QUESTIONS, {d.doc_id: d for d in documents})
    peer_hit = evaluate.evaluate(questions, peer.ask).metric("hit@5")
    project_hit = evaluate.evaluate(questions, rag.ask).metric("hit@5")
    figures = {"peer_chunks": len(peer.chunks), "peer_build_s": round(peer_build, 3),
               "project_build_s": round(project_build, 3),
               "peer_p50_ms": round(percentile(peer_ms, 50), 2), "project_p50_ms": round(percentile(project_ms, 50), 2),
               "peer_hit_at_5": peer_hit.value, "project_hit_at_5": project_hit.value, "answerable": project_hit.n}
    return [
        judged("peer: answer latency", f"project p50 {figures['project_p50_ms']:.1f} ms",
               f"peer p50 {figures['peer_p50_ms']:.1f} ms", figures["project_p50_ms"] / figures["peer_p50_ms"],
               Target("<=", 1.0), figures, note="the peer answers with raw chunks: no BM25, no extractive answer"),
        judged("peer: dev hit@5", f"project hit@5 {project_hit.value:.3f}", f"peer hit@5 {peer_hit.value:.3f}",
               project_hit.value / peer_hit.value if peer_hit.value else float("inf"), Target(">", 1.0), figures,
               note=f"{project_hit.n} answerable dev questions; target is strictly better"),
        reported("peer: index build", f"project {project_build:.2f} s", f"peer {peer_build:.2f} s",
                 project_build / peer_build, figures,
                 note="the project also embeds every sentence and builds BM25; the issue sets no target here"),
    ]
