"""The metrics: each question's `Scores` from character ranges, and their means with bootstrap intervals.

Definitions are in the package docstring (`rag.evaluation`); `METRICS` lists
every metric by the name reports, tables and `--min` use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.evaluation.questions import Evidence, Question
from rag.evaluation.support import MARKER, SentenceSupport
from rag.ingest.text import word_count
from rag.schema import Answer

KS = (1, 3, 5)
MRR_DEPTH = 20
NDCG_DEPTH = 10
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0

# Metric names as reports, tables and --min use them, and which way is better:
# +1 higher, -1 lower, 0 not a quality (timing noise, length) so no question
# is called worse for it.
METRICS: tuple[tuple[str, int], ...] = (
    ("hit@1", 1), ("hit@3", 1), ("hit@5", 1),
    ("evidence_recall@1", 1), ("evidence_recall@3", 1), ("evidence_recall@5", 1),
    ("mrr", 1), ("ndcg@10", 1),
    ("citation_recall", 1), ("citation_precision", 1), ("answer_recall", 1), ("joint", 1),
    ("refusal_accuracy", 1),
    ("unsupported_sentences", -1), ("answer_words", 0), ("latency_ms", 0),
)
METRIC_NAMES = tuple(name for name, _ in METRICS)


@dataclass(frozen=True)
class Scores:
    """One question's scores; None where a metric does not apply (quality metrics of unanswerable questions)."""

    hit_at_1: float | None
    hit_at_3: float | None
    hit_at_5: float | None
    evidence_recall_at_1: float | None
    evidence_recall_at_3: float | None
    evidence_recall_at_5: float | None
    mrr: float | None
    ndcg_at_10: float | None
    citation_recall: float | None
    citation_precision: float | None
    answer_recall: float | None
    joint: float | None
    refusal_accuracy: float
    unsupported_sentences: float
    answer_words: float
    latency_ms: float | None  # None only for a hand-written answer without timings

    def value(self, name: str) -> float | None:
        return getattr(self, name.replace("@", "_at_"))


@dataclass(frozen=True)
class Metric:
    name: str
    value: float | None  # mean over the n questions it applies to; None when n == 0
    low: float | None  # 95% bootstrap interval
    high: float | None
    n: int


def score(question: Question, answer: Answer, sentences: Sequence[SentenceSupport]) -> Scores:
    """The per-question values of every metric (see the module docstring for the definitions)."""
    refusal_accuracy = float(answer.refused != question.answerable)
    unsupported = float(sum(not s.supported for s in sentences))
    words = float(word_count(MARKER.sub(" ", answer.text)))
    latency = answer.timings_ms.get("total")
    if not question.answerable:
        return Scores(hit_at_1=None, hit_at_3=None, hit_at_5=None, evidence_recall_at_1=None,
                      evidence_recall_at_3=None, evidence_recall_at_5=None, mrr=None, ndcg_at_10=None,
                      citation_recall=None, citation_precision=None, answer_recall=None, joint=None,
                      refusal_accuracy=refusal_accuracy, unsupported_sentences=unsupported, answer_words=words,
                      latency_ms=latency)
    evidence = question.evidence
    ranked = sorted(answer.passages, key=lambda p: p.rank)
    # For each passage in rank order, the indices of the gold entries it hits.
    hits = [evidence_hits(p.chunk.doc_id, p.chunk.start, p.chunk.end, evidence) for p in ranked]

    def hit_at(k: int) -> float:
        return float(any(hits[:k]))

    def recall_at(k: int) -> float:
        return len(frozenset().union(*hits[:k])) / len(evidence)

    mrr = next((1 / rank for rank, h in enumerate(hits[:MRR_DEPTH], start=1) if h), 0.0)
    relevant = [bool(h) for h in hits[:NDCG_DEPTH]]
    dcg = sum(1 / math.log2(rank + 1) for rank, r in enumerate(relevant, start=1) if r)
    ideal = min(NDCG_DEPTH, max(len(evidence), sum(relevant)))
    idcg = sum(1 / math.log2(rank + 1) for rank in range(1, ideal + 1))
    cited = [bool(evidence_hits(c.doc_id, c.start, c.end, evidence)) for c in answer.citations]
    citation_recall = float(any(cited))
    answer_recall = sum(covers(answer.text, fact) for fact in question.answers) / len(question.answers)
    return Scores(
        hit_at_1=hit_at(1), hit_at_3=hit_at(3), hit_at_5=hit_at(5),
        evidence_recall_at_1=recall_at(1), evidence_recall_at_3=recall_at(3), evidence_recall_at_5=recall_at(5),
        mrr=mrr, ndcg_at_10=dcg / idcg,
        citation_recall=citation_recall,
        citation_precision=sum(cited) / len(cited) if cited else 0.0,
        answer_recall=answer_recall,
        joint=float(answer_recall == 1.0 and citation_recall == 1.0),
        refusal_accuracy=refusal_accuracy, unsupported_sentences=unsupported, answer_words=words, latency_ms=latency,
    )


def covers(text: str, fact: Sequence[str]) -> bool:
    """The answer text covers a fact when it contains any one of its strings, case ignored (docs/EVAL.md)."""
    folded = text.casefold()
    return any(s.casefold() in folded for s in fact)


def evidence_hits(doc_id: str, start: int, end: int, evidence: Sequence[Evidence]) -> frozenset[int]:
    """Indices of the evidence entries whose [start, end) range overlaps this one in the same doc."""
    return frozenset(i for i, e in enumerate(evidence) if e.doc_id == doc_id and start < e.end and e.start < end)


def aggregate(scores: Sequence[Scores]) -> tuple[Metric, ...]:
    """Each metric's mean over the questions it applies to, with its 95% bootstrap interval."""
    metrics = []
    for name in METRIC_NAMES:
        values = [v for s in scores if (v := s.value(name)) is not None]
        if not values:
            metrics.append(Metric(name, None, None, None, 0))
            continue
        # A fresh generator per metric: an interval does not depend on which metrics came before it.
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        array = np.asarray(values, dtype=np.float64)
        means = array[rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))].mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        metrics.append(Metric(name, round(math.fsum(values) / len(values), 6), round(float(low), 6),
                              round(float(high), 6), len(values)))
    return tuple(metrics)


def format_value(name: str, value: float | None) -> str:
    """A metric's value as the tables print it: n/a, 1 decimal for words and ms, else 3."""
    if value is None:
        return "n/a"
    return f"{value:.1f}" if name in ("answer_words", "latency_ms") else f"{value:.3f}"
