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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import compress

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
    "layout": ("table_header",),
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
SHARE_DIGITS = 12  # `_share`
# Words that shape a question but say nothing about its subject.
QUESTION_WORDS = frozenset(terms("who whom whose what which when where why how did does do is are was were "
                                 "say said tell about many much name according think thought believe feel "
                                 "opinion"))
_COLUMN = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
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
    # Filled a column at a time, each term's postings met once: a question weighs some forty sentences, and
    # a dictionary of signals per sentence made the answer stage cost a third of the query's encoding.
    row_of = {sentence_id: row for row, sentence_id in enumerate(ids)}
    id_array = np.array(ids)
    features = np.zeros((len(ids), len(SENTENCE_FEATURES)))

    def put(name: str, values: np.ndarray | Sequence[float]) -> None:
        features[:, _COLUMN[name]] = values

    query = retrieval.query_vector
    chunk_ids = sorted(set(chunk_of.values()))
    chunk_cosine = dict(zip(chunk_ids, (float(c) for c in store.chunk_vectors(chunk_ids) @ query), strict=True))
    put("cosine", store.vectors[ids] @ query)
    put("passage_cosine", [chunk_cosine[chunk_of[i]] for i in ids])
    put("beside_cosine", _beside_cosine(store, id_array, query))
    question_terms = list(weights)
    idf = np.array([weights[t] for t in question_terms])
    total = sum(weights.values()) or 1.0
    held = _held(row_of, [store.postings.holding(t) for t in question_terms])
    put("exact_overlap", _share(held @ idf, total))
    put("bm25", _share(_bm25(store, ids, row_of, weights), total))
    headings = store.heading_terms
    put("heading_overlap", _share(np.array([[t in headings[i] for t in question_terms] for i in ids],
                                           dtype=np.float64) @ idf, total))
    credit = _credit(store, reading, row_of, weights, held)
    put("overlap", _share(credit @ idf, total))
    covered_all = _covered(question_terms, credit > 0)
    if context:
        context_idf = np.array(list(context.values()))
        put("context_overlap", _share(_held(row_of, [store.postings.holding(t) for t in context]) @ context_idf,
                                      sum(context.values()) or 1.0))
    if asked_for.speaker:
        _put_speaker(store, asked_for.speaker, ids, put)
    typed = asked_for.kind in TYPED_KINDS
    if typed or asked_for.kind == "why":
        _put_kind(store, asked_for, frozenset(weights), ids, put)
    if reading.earlier_answer:
        repeated = np.array([store.sentences[i].clean in reading.earlier_answer for i in ids], dtype=np.float64)
        put("repeated_asked_again" if reading.asks_again else "repeated", repeated)
    put("passage_rank", [1.0 / rank_of[i] for i in ids])
    put("first_in_paragraph", ~_in_paragraph(store, id_array, -1))
    put("log_words", [math.log1p(len(store.sentences[i].clean.split())) for i in ids])
    put("table_header", store.table_header[id_array])
    for name in ("cosine", "passage_cosine", "bm25", "overlap"):
        values = features[:, _COLUMN[name]]
        put(f"{name}_gap", values - values.max())
    for name in ("cosine", "bm25", "overlap"):
        order = np.argsort(-features[:, _COLUMN[name]], kind="stable")
        ranks = np.empty(len(ids))
        ranks[order] = 1.0 / np.arange(1, len(ids) + 1)
        put(f"{name}_rank", ranks)
    return Candidates(tuple(ids), features, covered_all, weights, question, asked_for)


def _question_signals(store: SentenceStore, reading: Reading, weights: dict[str, float],
                      asked_for: Asked) -> dict[str, float]:
    total = sum(weights.values()) or 1.0
    unknown = sum(w for t, w in weights.items() if not store.postings.holding(t)) / total
    # "What is the capital of Lithuania?": the attribute asked for, when no sentence uses its word.
    focus_unknown = any(not store.postings.holding(t) for t in terms(asked_for.focus))
    return {"unknown_share": unknown, "focus_unknown": float(focus_unknown),
            "asks_typed": float(asked_for.kind in TYPED_KINDS), "asks_speaker": float(bool(asked_for.speaker)),
            "listing": float(bool(LIST_QUESTION.search(reading.text)))}


def _share(weighed: np.ndarray, total: float) -> np.ndarray:
    """`weighed` as a share of `total`, rounded: sentences that hold the same words then tie exactly, whatever
    order their weights were summed in, and a rank signal puts the earlier sentence first."""
    return np.round(weighed / total, SHARE_DIGITS)


def _held(row_of: dict[int, int], postings: Sequence[frozenset[int]]) -> np.ndarray:
    """(candidates, terms): 1 where the candidate sentence holds the term."""
    held = np.zeros((len(row_of), len(postings)))
    for j, holding in enumerate(postings):
        held[_rows(row_of, holding), j] = 1.0
    return held


def _rows(row_of: dict[int, int], holding: frozenset[int]) -> list[int]:
    """The rows of the candidates in `holding`, met from the smaller side: a common word's postings in a large
    wiki hold millions of sentences."""
    if len(holding) < len(row_of):
        return [row_of[i] for i in holding if i in row_of]
    return [row for i, row in row_of.items() if i in holding]


def _covered(question_terms: Sequence[str], held: np.ndarray) -> tuple[frozenset[str], ...]:
    """The terms each row holds, as sets; most rows hold one of a few patterns, each made into a set once."""
    patterns = [tuple(row) for row in held.tolist()]
    as_set = {pattern: frozenset(compress(question_terms, pattern)) for pattern in set(patterns)}
    return tuple(as_set[pattern] for pattern in patterns)


def _beside_cosine(store: SentenceStore, ids: np.ndarray, query: np.ndarray) -> np.ndarray:
    """The best cosine of the sentences beside each candidate in its paragraph (0 when it stands alone): an answer
    often sits next to the sentence that names what was asked ("Northside is open Monday to Saturday. It opens
    late on Thursdays…")."""
    before, after = _in_paragraph(store, ids, -1), _in_paragraph(store, ids, 1)
    last = len(store.sentences) - 1
    cosine_before = np.where(before, store.vectors[np.maximum(ids - 1, 0)] @ query, -np.inf)
    cosine_after = np.where(after, store.vectors[np.minimum(ids + 1, last)] @ query, -np.inf)
    return np.where(before | after, np.maximum(cosine_before, cosine_after), 0.0)


def _in_paragraph(store: SentenceStore, ids: np.ndarray, step: int) -> np.ndarray:
    """Whether the sentence `step` away from each of `ids` is in the same paragraph."""
    paragraph = store.paragraph_index
    near = np.minimum(np.maximum(ids + step, 0), len(paragraph) - 1)
    return (near != ids) & (paragraph[near] == paragraph[ids])


def _bm25(store: SentenceStore, ids: Sequence[int], row_of: dict[int, int], weights: dict[str, float]) -> np.ndarray:
    counts = np.zeros((len(ids), len(weights)))
    for j, t in enumerate(weights):
        for i in store.postings.exactly(t) & row_of.keys():
            counts[row_of[i], j] = store.repeats.get((i, t), 1)
    lengths = np.array([store.term_count[i] for i in ids], dtype=np.float64)
    norm = (BM25_K1 * (1 - BM25_B + BM25_B * lengths / store.mean_terms))[:, None]
    scores = np.where(counts > 0, counts * (BM25_K1 + 1) / (counts + norm), 0.0)
    return scores @ np.array(list(weights.values()))


def _credit(store: SentenceStore, reading: Reading, row_of: dict[int, int], weights: dict[str, float],
            held: np.ndarray) -> np.ndarray:
    """(candidates, terms): 1 where the sentence holds the term (a name: in its scope, where quotes are
    attributed), else the best cosine of a neighbour of the term it holds: a reader's word reaches the
    articles' through its neighbours, credited at their cosine; never a name."""
    credit = held.copy()
    typed_names = name_terms([reading.text, reading.context])
    for j, t in enumerate(weights):
        if t in store.name_terms:
            credit[:, j] = _held(row_of, [store.scope_postings.holding(t)])[:, 0]
            continue
        best: dict[int, float] = {}
        for neighbour, cosine in store.neighbours_of(t, t not in typed_names):
            if neighbour not in weights:
                for row in _rows(row_of, store.postings.holding(neighbour)):
                    best[row] = max(best.get(row, cosine), cosine)
        for row, cosine in best.items():
            if not held[row, j]:
                credit[row, j] = cosine
    return credit


def _put_speaker(store: SentenceStore, speaker: str, ids: Sequence[int],
                 put: Callable[[str, Sequence[float]], None]) -> None:
    in_document = [store.speaks_in(speaker, store.document_text[store.sentences[i].doc_id]) for i in ids]
    put("speaker_here", [float(store.speaks_in(speaker, store.scope_text[i])) for i in ids])
    put("speaker_in_document", [float(found) for found in in_document])
    put("speaker_absent", [float(not found) for found in in_document])


def _put_kind(store: SentenceStore, asked_for: Asked, about: frozenset[str], ids: Sequence[int],
              put: Callable[[str, Sequence[float]], None]) -> None:
    """Whether each sentence's quote holds the kind of fact asked, or gives a reason for a "why"."""
    spans = [store.span_text(i) for i in ids]
    if asked_for.kind == "why":
        put("why_reason", [float(gives_reason(span)) for span in spans])
        return
    counted_also = frozenset(n for t in terms(asked_for.counted) for n, _ in store.neighbours_of(t))
    found = [holds(asked_for.kind, span, asked_for.counted, about, counted_also) for span in spans]
    put("typed_holds", [float(f) for f in found])
    put("typed_lacks", [float(not f) for f in found])


def answer_signals(candidates: Candidates, order: Sequence[int], logits: np.ndarray,
                   follow_up: bool) -> dict[str, float]:
    """The signals for answering at all, given the sentence model's `logits` and the `order` it ranks them in."""
    column = _COLUMN
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
    column = _COLUMN
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
