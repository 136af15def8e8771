"""Rows "model …": every packaged model side by side, each on its own index, to choose the default from.

For each name of `rag.config.KNOWN_MODELS` (the model in use is already
warm in the context; the other is loaded here, as `Embedder` and bare) a
five-article index is built with it in its own folder, and the rows give:

* answer latency: `RAG.ask` p50 over the dev questions, interleaved with
  that model's ONNX export encoding the same question (as `latency.py` does); the ratio is
  the issue's target, answer p50 <= 1.5 x one query embedding of that model;
* index build: `ensure_index(force=True)`, least of the repeats, against the
  bare model encoding everything the build embeds (chunks + sentences);
* quality on every question set of `context.QUESTION_SETS`, scored by
  `rag.evaluation` (hit@5, citation recall and precision, answer recall,
  refusal accuracy); follow-ups are asked after their history, as a chat
  asks them. `--quick` scores a few questions per set, follow-ups among them.

A model that cannot be loaded (all-mpnet-base-v2 not assembled) gets rows
that say why.
"""

from __future__ import annotations

import contextlib
import gc
import io
from typing import Any

from benchmarks.context import (
    Context,
    QuestionSet,
    bare_model,
    encode_documents,
    question_sets,
    some_questions,
)
from benchmarks.latency import interleaved
from benchmarks.measure import percentile, seconds
from benchmarks.report import Row, Target, judged, reported, skipped
from rag.config import Settings
from rag.config import KNOWN_MODELS
from rag.evaluation.metrics import format_value
from rag.evaluation.questions import Question
from rag.evaluation.run import evaluate
from rag.ingest.chunking import chunk_documents, split_documents_into_sentences
from rag.ingest.corpus import load_corpus
from rag.models.embedding import Embedder
from rag.pipeline import RAG, ensure_index, load_embedder
from rag.schema import Document, ModelError

LATENCY_TARGET = Target("<=", 1.5)
# The metrics of a quality row, with the short names the table prints.
QUALITY = {"hit@5": "hit@5", "citation_recall": "cit. recall", "citation_precision": "cit. precision",
           "answer_recall": "answer recall", "refusal_accuracy": "refusal acc."}


def run(ctx: Context) -> list[Row]:
    documents, _ = load_corpus(ctx.settings.corpus_dir)
    sets = question_sets(documents)
    rows: list[Row] = []
    for name in KNOWN_MODELS:
        rows += _rows(ctx, name, documents, sets)
        gc.collect()  # the other model's weights, before the next one loads
    return rows


def _rows(ctx: Context, name: str, documents: list[Document], sets: list[QuestionSet]) -> list[Row]:
    settings = ctx.settings.replace(model=name, model_path="", index_dir=ctx.work / f"model-{name}")
    prefix = f"model {name}"
    in_use = name == ctx.settings.model and not ctx.settings.model_path
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # progress bars of model loading
            embedder = ctx.embedder if in_use else load_embedder(settings)
            model = ctx.model if in_use else bare_model(settings)
    except ModelError as err:
        names = ["answer latency p50", "index build", *(f"quality, {label}" for label, _, _ in sets)]
        return [skipped(f"{prefix}: {what}", f"cannot load it: {err}") for what in names]
    build = _build_row(ctx, settings, embedder, model, documents, prefix)  # also leaves the index for `rag`
    rag = RAG(settings, embedder, documents)
    rows = [_latency_row(ctx, rag, prefix, embedder.dimension), build]
    for label, path, questions in sets:
        if questions is None:
            rows.append(skipped(f"{prefix}: quality, {label}", f"{path} is absent; set skipped"))
            continue
        rows.append(_quality_row(rag, some_questions(questions, ctx.sizes.set_questions), len(questions),
                                 f"{prefix}: quality, {label}"))
    return rows


def _latency_row(ctx: Context, rag: RAG, prefix: str, dimension: int) -> Row:
    asks, encodes = interleaved(rag, rag.embedder.encode_query, ctx.questions, ctx.sizes.latency_rounds)
    ask, encode = percentile(asks, 50), percentile(encodes, 50)
    figures = {"questions": len(asks), "dimension": dimension, "ask_p50_ms": round(ask, 2),
               "ask_p95_ms": round(percentile(asks, 95), 2), "encode_p50_ms": round(encode, 2)}
    return judged(f"{prefix}: answer latency p50", f"ask p50 {ask:.1f} ms", f"encode 1 query p50 {encode:.1f} ms",
                  ask / encode, LATENCY_TARGET, figures, note=f"{dimension}-dimensional vectors")


def _build_row(ctx: Context, settings: Settings, embedder: Embedder, model: Any, documents: list[Document],
               prefix: str) -> Row:
    chunks = [c.clean for c in chunk_documents(documents, settings.chunk_size, settings.chunk_overlap)]
    sentences = [s.clean for s in split_documents_into_sentences(documents)]
    builds, floors = [], []
    for _ in range(ctx.sizes.model_builds):
        with contextlib.redirect_stderr(io.StringIO()):  # the build's progress bar
            builds.append(seconds(lambda: ensure_index(settings, embedder, force=True)))
        floors.append(seconds(lambda: encode_documents(model, chunks + sentences, settings.embed_batch_size)))
    build, floor = min(builds), min(floors)  # noise only ever adds time
    figures = {"chunks": len(chunks), "sentences": len(sentences), "repeats": len(builds),
               "build_s": round(build, 3), "encode_chunks_and_sentences_s": round(floor, 3)}
    return reported(f"{prefix}: index build", f"build {build:.2f} s (5 articles)",
                    f"encode {len(chunks)} chunks + {len(sentences)} sentences {floor:.2f} s", build / floor, figures)


def _quality_row(rag: RAG, questions: tuple[Question, ...], in_file: int, name: str) -> Row:
    report = evaluate(questions, rag.ask)
    values = {metric: report.metric(metric).value for metric in (*QUALITY, "hit@3")}
    answerable = sum(q.answerable for q in questions)
    followups = sum(bool(q.history) for q in questions)
    figures = {**values, "questions": len(questions), "questions_in_file": in_file, "answerable": answerable,
               "followups": followups}
    measured = ", ".join(f"{short} {format_value(metric, values[metric])}" for metric, short in QUALITY.items())
    scored = f"{len(questions)} questions" if len(questions) == in_file else f"{len(questions)} of {in_file} questions"
    return reported(name, measured, f"{scored} ({answerable} answerable, {followups} follow-ups)", None, figures)
