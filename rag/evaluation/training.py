"""Fitting the learned answerer (`rag.answer.learned`) to labeled question files.

A labeled set is a question file (docs/EVAL.md) and the corpus its
evidence points into: the `corpus/` folder beside the file when there is one
(`tests/data/wiki-train/questions.jsonl`), else the configured corpus. Every
question is asked as the chat would ask it, after its history, and the
answerer's candidates for it are kept with one label each: does the
sentence's range overlap a gold evidence range (the `rag eval` rule).

The three models are fitted in order:

1. the sentence model, on every candidate of every answerable question;
2. the answer model, on each question's best scores, labeled answerable or not;
3. the further-sentence model, on the next-best candidates of answerable
   questions, labeled by whether they cite gold evidence; then its threshold,
   the one of `THRESHOLDS` whose answers have the highest citation recall plus
   citation precision (the higher threshold on a tie: fewer words).

The second and third read the sentence model's scores, so they are fitted on
scores the sentence model made for questions it did not see (cross-fitting:
each set scored by a sentence model fitted on the other sets, or by question
folds when there is one set). That is how it scores a new reader's question.

Earlier turns of a follow-up are answered by `PLAIN_SUM`, a fixed model (the
cosine plus half the BM25 share, always answering, one sentence), so the
examples do not depend on whichever fitted model happens to be installed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag.answer.conversation import earlier_turns
from rag.answer.learned import LearnedModel, Logistic, TrainedOn
from rag.answer.learned_answerer import FURTHER_CANDIDATES, LearnedAnswerer, Ranked
from rag.answer.sentence_store import SentenceStore
from rag.answer.signals import (ANSWER_FEATURES, FURTHER_FEATURES, SENTENCE_FEATURES, Candidates, answer_signals,
                                further_signals)
from rag.evaluation.questions import Question
from rag.schema import Answer, Turn

FOLDS = 5  # question folds for cross-fitting when there is a single set
# Further-sentence logits tried as the threshold from which a sentence joins: the search space, not a choice.
THRESHOLDS = tuple(float(t) for t in np.arange(1.0, -2.01, -0.25))
REGULARISATION = 1.0  # scikit-learn's C: its default, which cross-validation kept (see the README table)


@dataclass(frozen=True)
class Example:
    """One labeled question as the answerer weighs it."""

    set_name: str
    qid: str
    answerable: bool
    follow_up: bool
    candidates: Candidates
    hits: np.ndarray  # bool per candidate row: it cites gold evidence
    store: SentenceStore


def _model(features: Sequence[str], coef: dict[str, float], intercept: float) -> Logistic:
    n = len(features)
    return Logistic(tuple(features), np.zeros(n), np.ones(n), np.array([coef.get(f, 0.0) for f in features]),
                    intercept)


# The plain sum, used only to answer the earlier turns of follow-ups while examples are gathered.
PLAIN_SUM = LearnedModel(sentence=_model(SENTENCE_FEATURES, {"cosine": 1.0, "bm25": 0.5}, 0.0),
                         answer=_model(ANSWER_FEATURES, {}, 1.0),
                         further=_model(FURTHER_FEATURES, {}, -1.0))


# The modules whose change changes what a fitted model means: its signals, how they are read, how it is fitted
# (paths in the package `rag`).
FITTED_BY = ("answer/signals.py", "answer/asked.py", "answer/sentence_store.py", "answer/learned.py",
             "answer/learned_answerer.py", "evaluation/training.py")


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_digest() -> str:
    package = Path(__file__).parent.parent
    return hashlib.sha256(b"".join(file_digest(package / name).encode() for name in FITTED_BY)).hexdigest()


def is_current(model: LearnedModel, paths: Sequence[Path]) -> bool:
    """Whether `model` was fitted on exactly these files as they are now, by this code."""
    recorded = [(t.path, t.sha256) for t in model.trained_on]
    return model.code_sha256 == code_digest() and recorded == [(str(p), file_digest(p)) for p in paths]


def gather(set_name: str, questions: Sequence[Question], ask: Callable[[str, Sequence[Turn]], Answer],
           ranked: Callable) -> list[Example]:
    """The examples of one set: `ask` answers the earlier turns, `ranked(question, turns)` (`RAG.ranked`) gives
    what the answerer weighs for the question itself."""
    examples = []
    for question in questions:
        turns = earlier_turns(ask, question.history)
        found, store = ranked(question.text, turns)
        hits = np.array([_cites_gold(store, sentence_id, question) for sentence_id in found.candidates.sentence_ids],
                        dtype=bool)
        examples.append(Example(set_name, question.qid, question.answerable, bool(question.history),
                                found.candidates, hits, store))
    return examples


def _cites_gold(store: SentenceStore, sentence_id: int, question: Question) -> bool:
    ids = store.span_ids(sentence_id)
    first, last = store.sentences[ids[0]], store.sentences[ids[-1]]
    return any(e.doc_id == first.doc_id and first.start < e.end and e.start < last.end for e in question.evidence)


def fit(examples: Sequence[Example], trained_on: tuple[TrainedOn, ...] = (),
        drop: frozenset[str] = frozenset()) -> LearnedModel:
    """The three models fitted to `examples`; signals named in `drop` are left out (weight 0), for ablation."""
    sentence = _fit_sentence(examples, drop)
    logits = _cross_fitted_logits(examples, drop)
    rows, labels = [], []
    for example, logit in zip(examples, logits, strict=True):
        if not example.candidates.sentence_ids:
            continue
        order = tuple(int(i) for i in np.argsort(-logit, kind="stable"))
        signals = answer_signals(example.candidates, order, logit, example.follow_up)
        rows.append([signals[name] for name in ANSWER_FEATURES])
        labels.append(example.answerable)
    answer = _logistic(ANSWER_FEATURES, np.array(rows), np.array(labels), drop)
    rows, labels = [], []
    for example, logit in zip(examples, logits, strict=True):
        if not example.answerable or len(example.candidates.sentence_ids) < 2:
            continue
        order = [int(i) for i in np.argsort(-logit, kind="stable")]
        best = order[0]
        inside = set(example.store.span_ids(example.candidates.sentence_ids[best]))
        for row in order[1:1 + FURTHER_CANDIDATES]:
            if example.candidates.sentence_ids[row] in inside:
                continue
            signals = further_signals(example.store, example.candidates, row, [best], logit,
                                      example.candidates.covered[best])
            rows.append([signals[name] for name in FURTHER_FEATURES])
            labels.append(bool(example.hits[row]))
    further = _logistic(FURTHER_FEATURES, np.array(rows), np.array(labels), drop)
    model = LearnedModel(sentence, answer, further, trained_on, code_digest())
    return replace(model, further_threshold=_threshold(model, examples, logits))


def _threshold(model: LearnedModel, examples: Sequence[Example], logits: Sequence[np.ndarray]) -> float:
    """The further-sentence threshold whose answers to the answerable examples cite gold best (recall +
    precision, the `rag eval` metrics), answering from the cross-fitted sentence scores."""
    best, best_score = 0.0, -1.0
    for threshold in THRESHOLDS:
        trial = replace(model, further_threshold=threshold)
        score = 0.0
        for example, logit in zip(examples, logits, strict=True):
            if not example.answerable or not example.candidates.sentence_ids:
                continue
            answerer = LearnedAnswerer(example.store, trial)
            order = tuple(int(i) for i in np.argsort(-logit, kind="stable"))
            runs = answerer.quoted(example.candidates, answerer.select(Ranked(example.candidates, order, logit, True)))
            gold = {i for i, hit in zip(example.candidates.sentence_ids, example.hits, strict=True) if hit}
            cited = [bool(gold.intersection(run)) for run in runs]
            score += float(any(cited)) + sum(cited) / len(cited)
        if score > best_score:
            best, best_score = threshold, score
    return best


def _fit_sentence(examples: Sequence[Example], drop: frozenset[str]) -> Logistic:
    answerable = [e for e in examples if e.answerable and e.candidates.sentence_ids]
    rows = np.vstack([e.candidates.features for e in answerable])
    labels = np.concatenate([e.hits for e in answerable])
    return _logistic(SENTENCE_FEATURES, rows, labels, drop)


def _cross_fitted_logits(examples: Sequence[Example], drop: frozenset[str]) -> list[np.ndarray]:
    """Each example's sentence logits from a sentence model that did not see its group."""
    sets = sorted({e.set_name for e in examples})
    group = [sets.index(e.set_name) for e in examples] if len(sets) > 1 else [i % FOLDS for i in range(len(examples))]
    logits: list[np.ndarray] = [np.zeros(0)] * len(examples)
    for held in sorted(set(group)):
        model = _fit_sentence([e for e, g in zip(examples, group, strict=True) if g != held], drop)
        for i, g in enumerate(group):
            if g == held:
                logits[i] = model.logits(examples[i].candidates.features) if examples[i].candidates.sentence_ids \
                    else np.zeros(0)
    return logits


def _logistic(features: Sequence[str], rows: np.ndarray, labels: np.ndarray, drop: frozenset[str]) -> Logistic:
    """A standardised logistic regression; a constant or dropped signal keeps weight 0."""
    from sklearn.linear_model import LogisticRegression  # fitting only: answering needs numpy alone

    keep = np.array([name not in drop for name in features])
    mean = rows.mean(axis=0)
    scale = rows.std(axis=0)
    keep &= scale > 1e-9
    scale = np.where(keep, scale, 1.0)
    coef = np.zeros(len(features))
    if len(set(labels.tolist())) < 2:  # one class only: its log-odds, whatever the signals
        rate = min(max(float(labels.mean()), 1e-3), 1 - 1e-3)
        return Logistic(tuple(features), mean, scale, coef, float(np.log(rate / (1 - rate))))
    regression = LogisticRegression(C=REGULARISATION, max_iter=2000)
    regression.fit(((rows - mean) / scale)[:, keep], labels)
    coef[keep] = regression.coef_[0]
    return Logistic(tuple(features), mean, scale, coef, float(regression.intercept_[0]))
