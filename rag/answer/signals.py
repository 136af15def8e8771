"""Signals: what the answerer knows about each sentence it may cite, as named numbers.

The learned answerer (`rag.answer.learned`) never sees text. It sees, for every
sentence of the retrieved passages, the generic signals below, computed the
same way when a model is fitted (`rag.evaluation.training`) and when a question is
answered. No signal identifies an article, a sentence or a question's
wording: each is a similarity, a share of the question's words, or whether
the sentence holds the kind of fact asked (`rag.answer.asked`).

Signals come in named groups, so cross-validation can show what each group
is worth (`python -m rag crossval --ablate`). A group's signals are zero when
it does not apply (no speaker asked about, no earlier turn): the model then
weighs the others alone.

Deliberate shortcuts: BM25 is computed over the candidate sentences with the
build's sentence idf (the index's own BM25 ranks chunks, not sentences), and
"gap" signals (a sentence's value less the best candidate's) carry what a
per-question standardisation would, at the cost of one subtraction; "rank"
signals (1 / the sentence's rank among the candidates by that value) carry
the order, which transfers between corpora better than the values do.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.answer.asked import Asked, gives_reason, holds
from rag.answer.sentence_store import SentenceStore
from rag.models.terms import name_terms, terms
from rag.schema import Reading, Retrieval

# Group → its sentence signals. The names are the contract with a fitted model's JSON.
SENTENCE_GROUPS: dict[str, tuple[str, ...]] = {
    "dense": ("cosine", "cosine_gap", "cosine_rank", "passage_cosine", "passage_cosine_gap", "beside_cosine"),
    "lexical": ("bm25", "bm25_gap", "bm25_rank", "exact_overlap"),
    "neighbours": ("overlap", "overlap_gap", "overlap_rank"),
    "headings": ("heading_overlap",),
    "asked_kind": ("typed_holds", "typed_lacks", "why_reason"),
    "speaker": ("speaker_here", "speaker_in_document", "speaker_absent"),
    "follow_up": ("context_overlap", "repeated", "repeated_asked_again"),
    "position": ("passage_rank", "first_in_paragraph", "log_words"),
}
SENTENCE_FEATURES = tuple(name for names in SENTENCE_GROUPS.values() for name in names)

# Whether to answer at all: the best sentences' model scores and the question's own standing.
ANSWER_GROUPS: dict[str, tuple[str, ...]] = {
    "scores": ("best_logit", "second_logit"),
    "dense": ("best_cosine",),
    "lexical": ("best_bm25", "best_exact_overlap"),
    "neighbours": ("best_overlap",),
    "unknown_words": ("unknown_share", "focus_unknown"),
    "asked_kind": ("asks_typed", "best_typed_holds"),
    "speaker": ("asks_speaker", "best_speaker_here"),
    "follow_up": ("follow_up",),
}
ANSWER_FEATURES = tuple(name for names in ANSWER_GROUPS.values() for name in names)

# Whether a further sentence joins the chosen ones.
FURTHER_GROUPS: dict[str, tuple[str, ...]] = {
    "scores": ("logit", "logit_gap"),
    "novelty": ("new_document", "new_words", "closest_chosen"),
    "asked_kind": ("typed_holds", "typed_lacks", "listing"),
    "position": ("next_to_chosen",),
}
FURTHER_FEATURES = tuple(name for names in FURTHER_GROUPS.values() for name in names)

# Kinds of fact a sentence must hold to answer (a date for "when"); "why" and "who" only prefer one.
TYPED_KINDS = ("when", "how many", "how much", "how long", "how old", "where")
BM25_K1 = 1.2
BM25_B = 0.75
# Words that shape a question but say nothing about its subject.
QUESTION_WORDS = frozenset(terms("who whom whose what which when where why how did does do is are was were "
                                 "say said tell about many much name according think thought believe feel "
                                 "opinion"))
LIST_QUESTION = re.compile(r"^\s*who\b|\b(which|what)\s+(\w+\s+)?\w+s\b|\blist\b|\bname (all|the)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Candidates:
    """The sentences a question may be answered from, with their signals (rows follow `sentence_ids`)."""

    sentence_ids: tuple[int, ...]
    features: np.ndarray  # (n, len(SENTENCE_FEATURES)) float64
    covered: tuple[frozenset[str], ...]  # the question's terms each sentence has (itself or a neighbour)
    weights: dict[str, float]  # the question's own terms and their idf
    question: dict[str, float]  # the question-level signals that do not depend on the model
    asked_for: Asked


def question_weights(store: SentenceStore, reading: Reading) -> dict[str, float]:
    """The question's own subject terms with their idf (a word no sentence has gets the highest)."""
    # In sorted order: every sum over these terms then adds its floats in one order whatever the hash seed, so a
    # fit and an answer come out the same from run to run (sets of strings iterate in a per-process order).
    return {t: store.idf.get(t, store.unseen_idf) for t in sorted(set(terms(reading.text)) - QUESTION_WORDS)}


def candidates(store: SentenceStore, reading: Reading, retrieval: Retrieval, asked_for: Asked) -> Candidates:
    """Every sentence of the passages answered from, with its signals; none when there are no passages."""
    weights = question_weights(store, reading)
    context = {t: store.idf.get(t, store.unseen_idf)
               for t in sorted(set(terms(reading.context)) - QUESTION_WORDS - set(weights))}
    chunk_of: dict[int, int] = {}
    rank_of: dict[int, int] = {}
    for passage in retrieval.answered_from:
        for sentence_id in store.chunk_sentences[passage.chunk.chunk_id]:
            if sentence_id not in chunk_of:
                chunk_of[sentence_id] = passage.chunk.chunk_id
                rank_of[sentence_id] = passage.rank
    question = _question_signals(store, reading, weights, asked_for)
    ids = sorted(chunk_of)
    if not ids:
        return Candidates((), np.zeros((0, len(SENTENCE_FEATURES))), (), weights, question, asked_for)
    query = retrieval.query_vector
    chunk_ids = sorted(set(chunk_of.values()))
    chunk_cosine = dict(zip(chunk_ids, (float(c) for c in store.chunk_vectors(chunk_ids) @ query), strict=True))
    cosines = store.vectors[ids] @ query
    # The sentences beside each candidate in its paragraph: an answer often sits next to the sentence that
    # names what was asked ("Northside is open Monday to Saturday. It opens late on Thursdays…").
    beside = {i: [j for j in (i - 1, i + 1) if 0 <= j < len(store.sentences)
                  and store.sentences[j].doc_id == store.sentences[i].doc_id
                  and store.sentences[j].paragraph == store.sentences[i].paragraph] for i in ids}
    beside_ids = sorted({j for near in beside.values() for j in near})
    beside_cosine = dict(zip(beside_ids, (float(c) for c in store.vectors[beside_ids] @ query), strict=True)) \
        if beside_ids else {}
    total = sum(weights.values()) or 1.0
    context_total = sum(context.values()) or 1.0
    holding = {t: store.postings.holding(t) for t in [*weights, *context]}
    exactly = {t: store.postings.exactly(t) for t in weights}
    in_scope = {t: store.scope_postings.holding(t) for t in weights}
    names = {t for t in weights if t in store.name_terms}
    typed_names = name_terms([reading.text, reading.context])
    # A reader's word reaches the articles' through its neighbours, credited at their cosine; never a name.
    alternatives = {t: [(n, c) for n, c in store.neighbours_of(t, t not in typed_names) if n not in weights]
                    for t in weights if t not in names}
    holding_alternative = {n: store.postings.holding(n) for close in alternatives.values() for n, _ in close}
    about = frozenset(weights)
    counted_also = frozenset(n for t in terms(asked_for.counted) for n, _ in store.neighbours_of(t))
    typed = asked_for.kind in TYPED_KINDS
    speaking_in: dict[str, bool] = {}
    speaking_here: dict[str, bool] = {}
    rows, covered_all = [], []
    for sentence_id, cosine in zip(ids, cosines, strict=True):
        sentence = store.sentences[sentence_id]
        # The quote a kind of fact is looked for in: read only for the questions that look for one.
        span = store.span_text(sentence_id) if typed or asked_for.kind == "why" else ""
        credit = {t: 1.0 if sentence_id in (in_scope if t in names else holding)[t]
                  else max((c for n, c in alternatives.get(t, ()) if sentence_id in holding_alternative[n]),
                           default=0.0)
                  for t in weights}
        exact = sum(w for t, w in weights.items() if sentence_id in holding[t]) / total
        if asked_for.speaker:
            if sentence.doc_id not in speaking_in:
                speaking_in[sentence.doc_id] = store.speaks_in(asked_for.speaker, store.document_text[sentence.doc_id])
            scope = store.scope_text[sentence_id]
            if scope not in speaking_here:
                speaking_here[scope] = store.speaks_in(asked_for.speaker, scope)
        in_document = bool(asked_for.speaker) and speaking_in[sentence.doc_id]
        here = bool(asked_for.speaker) and speaking_here[store.scope_text[sentence_id]]
        holds_kind = typed and holds(asked_for.kind, span, asked_for.counted, about, counted_also)
        repeated = bool(reading.earlier_answer) and sentence.clean in reading.earlier_answer
        signals = {
            "cosine": float(cosine),
            "passage_cosine": chunk_cosine[chunk_of[sentence_id]],
            "beside_cosine": max((beside_cosine[j] for j in beside[sentence_id]), default=0.0),
            "bm25": _bm25(store, sentence_id, weights, exactly) / total,
            "exact_overlap": exact,
            "heading_overlap": sum(w for t, w in weights.items() if t in store.heading_terms[sentence_id]) / total,
            "overlap": sum(weights[t] * c for t, c in credit.items()) / total,
            "typed_holds": float(typed and holds_kind),
            "typed_lacks": float(typed and not holds_kind),
            "why_reason": float(asked_for.kind == "why" and gives_reason(span)),
            "speaker_here": float(here),
            "speaker_in_document": float(in_document),
            "speaker_absent": float(bool(asked_for.speaker) and not in_document),
            "context_overlap": sum(w for t, w in context.items() if sentence_id in holding[t]) / context_total,
            "repeated": float(repeated and not reading.asks_again),
            "repeated_asked_again": float(repeated and reading.asks_again),
            "passage_rank": 1.0 / rank_of[sentence_id],
            "first_in_paragraph": float(sentence_id == 0 or store.sentences[sentence_id - 1].paragraph
                                        != sentence.paragraph or store.sentences[sentence_id - 1].doc_id
                                        != sentence.doc_id),
            "log_words": math.log1p(len(sentence.clean.split())),
        }
        rows.append(signals)
        covered_all.append(frozenset(t for t, c in credit.items() if c > 0))
    for name in ("cosine", "passage_cosine", "bm25", "overlap"):
        best = max(row[name] for row in rows)
        for row in rows:
            row[f"{name}_gap"] = row[name] - best
    for name in ("cosine", "bm25", "overlap"):
        order = sorted(range(len(rows)), key=lambda i: -rows[i][name])
        for rank, i in enumerate(order, start=1):
            rows[i][f"{name}_rank"] = 1.0 / rank
    features = np.array([[row[name] for name in SENTENCE_FEATURES] for row in rows], dtype=np.float64)
    return Candidates(tuple(ids), features, tuple(covered_all), weights, question, asked_for)


def _question_signals(store: SentenceStore, reading: Reading, weights: dict[str, float],
                      asked_for: Asked) -> dict[str, float]:
    total = sum(weights.values()) or 1.0
    unknown = sum(w for t, w in weights.items() if not store.postings.holding(t)) / total
    # "What is the capital of Lithuania?": the attribute asked for, when no sentence uses its word.
    focus_unknown = any(not store.postings.holding(t) for t in terms(asked_for.focus))
    return {"unknown_share": unknown, "focus_unknown": float(focus_unknown),
            "asks_typed": float(asked_for.kind in TYPED_KINDS), "asks_speaker": float(bool(asked_for.speaker)),
            "listing": float(bool(LIST_QUESTION.search(reading.text)))}


def _bm25(store: SentenceStore, sentence_id: int, weights: dict[str, float],
          exactly: dict[str, frozenset[int]]) -> float:
    norm = BM25_K1 * (1 - BM25_B + BM25_B * store.term_count[sentence_id] / store.mean_terms)
    total = 0.0
    for t, idf in weights.items():
        if sentence_id in exactly[t]:
            count = store.repeats.get((sentence_id, t), 1)
            total += idf * count * (BM25_K1 + 1) / (count + norm)
    return total


def answer_signals(candidates: Candidates, order: Sequence[int], logits: np.ndarray,
                   follow_up: bool) -> dict[str, float]:
    """The signals for answering at all, given the sentence model's `logits` and the `order` it ranks them in."""
    column = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    best = candidates.features[order[0]]
    return {
        "best_logit": float(logits[order[0]]),
        "second_logit": float(logits[order[1]]) if len(order) > 1 else float(logits[order[0]]),
        "best_cosine": float(best[column["cosine"]]),
        "best_bm25": float(best[column["bm25"]]),
        "best_exact_overlap": float(best[column["exact_overlap"]]),
        "best_overlap": float(best[column["overlap"]]),
        "best_typed_holds": float(best[column["typed_holds"]]),
        "best_speaker_here": float(best[column["speaker_here"]]),
        "follow_up": float(follow_up),
        **candidates.question,
    }


def further_signals(store: SentenceStore, candidates: Candidates, row: int, chosen: Sequence[int],
                    logits: np.ndarray, covered: frozenset[str]) -> dict[str, float]:
    """The signals for adding the sentence at `row` to the `chosen` rows, which cover the terms `covered`."""
    column = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    sentence_id = candidates.sentence_ids[row]
    chosen_ids = [candidates.sentence_ids[r] for r in chosen]
    total = sum(candidates.weights.values()) or 1.0
    gained = candidates.covered[row] - covered
    features = candidates.features[row]
    doc_id = store.sentences[sentence_id].doc_id
    return {
        "logit": float(logits[row]),
        "logit_gap": float(logits[row] - logits[chosen[0]]),
        "new_document": float(all(store.sentences[i].doc_id != doc_id for i in chosen_ids)),
        "new_words": sum(candidates.weights[t] for t in sorted(gained)) / total,
        "closest_chosen": float(max(store.vectors[chosen_ids] @ store.vectors[sentence_id])),
        "typed_holds": float(features[column["typed_holds"]]),
        "typed_lacks": float(features[column["typed_lacks"]]),
        "listing": candidates.question["listing"],
        "next_to_chosen": float(any(abs(sentence_id - i) == 1 and store.sentences[i].doc_id == doc_id
                                    for i in chosen_ids)),
    }
