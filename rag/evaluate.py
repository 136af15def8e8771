"""Scripted evaluation: question file → per-question scores → `Report`.

This file holds the reader of question files (`shared/eval/FORMAT.md`), the
metrics (computed from character ranges, never from text), the per-sentence
citation-support check, the JSON report and `rescore`, which recomputes every
metric from a report file alone, the floors of `--min`/`--max`, the comparison
of `--compare`, and the plain-text tables the CLI prints. The answering
function is injected (`evaluate(questions, ask)`, `ask(question, history)` like
`RAG.ask`), so everything here runs on hand-made `Answer`s as well as on the
pipeline. A question with a `history` is asked after its earlier questions,
as a chat would (`rag.conversation`); only its own answer is scored, and the
report records the earlier turns with the answers they got.

Definitions beyond FORMAT.md, and deliberate choices:

* Quality metrics (hit@k to joint) apply to answerable questions only;
  unanswerable ones count only in refusal_accuracy. unsupported_sentences,
  answer_words and latency_ms are averaged over all questions.
* Ranks are positions in rank order, so `mrr` counts the top 20 passages
  the answer lists and `ndcg@10` the top 10.
* citation_precision of an answer without citations is 0, refusals included:
  it supports nothing it says.
* ndcg@10: binary relevance (the passage hits some gold evidence), gain
  1/log2(rank+1). The ideal ranking puts R relevant passages first, with
  R = min(10, max(gold evidence entries, relevant passages retrieved)): one
  passage per evidence place, or more when several chunks overlap one quote,
  so the value stays within [0, 1].
* joint (KILT-style): the answer covers all its facts AND cites gold evidence.
* A question is *missed* (`QuestionResult.missed`, the one definition the
  text table, the JSON report and the HTML page use) when its refusal was
  wrong, or when it is answerable and its answer cites no gold evidence,
  misses a fact, or its top 5 passages hit no gold evidence.
* answer_words counts the answer's words with its [n] markers removed;
  latency_ms is `timings_ms["total"]` when the answer carries it, else the
  time `ask` took (then written into the answer's timings).
* The 95% interval is a percentile bootstrap (1000 resamples, seed 0, per
  metric), so re-scoring a report gives the same interval.
* Citation support, in the spirit of ALCE: each answer sentence with its
  [n] markers is supported when, markdown and quotes folded and case
  ignored, it is found inside the text of the spans it cites. That is exact
  for extractive answers; paraphrasing (LLM) answers need the optional NLI
  cross-encoder, whose verdicts are recorded but cannot be re-scored without
  the model.
* Scores are computed from the answer exactly as the report stores it (JSON
  round trip), so re-scoring the file reproduces them to the last digit.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.contract import answer_from_dict, answer_to_dict
from rag.conversation import Ask, earlier_turns
from rag.schema import Answer, ConfigError, Document, ModelError, QuestionFileError, ReportFileError, Turn
from rag.text import clean_text, split_sentences, word_count

REPORT_VERSION = 1
KS = (1, 3, 5)
MRR_DEPTH = 20
NDCG_DEPTH = 10
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
FIELDS = ("id", "question", "answers", "evidence", "answerable")

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
class Evidence:
    doc_id: str
    start: int  # raw.index(quote) in corpus/<doc_id>.txt
    end: int
    quote: str


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    answers: tuple[tuple[str, ...], ...]  # facts; each is covered by any one of its strings
    evidence: tuple[Evidence, ...]
    answerable: bool
    line: int = 0  # in the question file; 0 when made in code
    history: tuple[str, ...] = ()  # the earlier questions of its conversation, oldest first

    def __post_init__(self) -> None:
        if self.answerable and not self.answers:
            raise QuestionFileError('an answerable question needs at least one fact in "answers"; '
                                    'add one or set "answerable": false')
        if self.answerable and not self.evidence:
            raise QuestionFileError('an answerable question needs at least one "evidence" entry; '
                                    'quote the passage that supports its answer')
        if not self.answerable and (self.answers or self.evidence):
            raise QuestionFileError('an unanswerable question ("answerable": false) must have empty '
                                    '"answers" and "evidence"')


@dataclass(frozen=True)
class SentenceSupport:
    text: str  # the sentence, markers removed
    markers: tuple[int, ...]
    supported: bool  # found inside the text of the spans it cites
    entailed: bool | None = None  # NLI verdict; None when no NLI model ran


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
class QuestionResult:
    question: Question
    answer: Answer
    sentences: tuple[SentenceSupport, ...]
    scores: Scores
    turns: tuple[Turn, ...] = ()  # the question's history as asked, each with the answer it got

    @property
    def missed(self) -> bool:
        """True as MISSED_WHEN says: the one definition of a miss, used by every report."""
        s = self.scores
        return s.refusal_accuracy == 0.0 or (self.question.answerable and (
            s.citation_recall == 0.0 or s.answer_recall < 1.0 or s.hit_at_5 == 0.0))


MISSED_WHEN = ("its refusal was wrong (refusal_accuracy = 0), or it is answerable and its answer cites no gold "
               "evidence (citation_recall = 0), leaves out a fact (answer_recall < 1), or its top 5 passages hit "
               "no gold evidence (hit@5 = 0)")


@dataclass(frozen=True)
class Metric:
    name: str
    value: float | None  # mean over the n questions it applies to; None when n == 0
    low: float | None  # 95% bootstrap interval
    high: float | None
    n: int


@dataclass(frozen=True)
class Report:
    results: tuple[QuestionResult, ...]
    metrics: tuple[Metric, ...]
    nli: str  # the NLI model directory, or "skipped"

    def metric(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise ConfigError(f"unknown metric {name!r}; use one of: {', '.join(METRIC_NAMES)}")


SupportCheck = Callable[[str, Sequence[str]], bool]  # (sentence, cited texts) -> backed by them?


@dataclass(frozen=True)
class NliChecker:
    name: str  # recorded in the report
    entails: SupportCheck


# ---------------------------------------------------------------- question files

def load_questions(path: Path, documents: Mapping[str, Document]) -> tuple[Question, ...]:
    """The questions of a FORMAT.md file, evidence ranges resolved in `documents`' raw text."""
    try:
        # utf-8-sig: editors on Windows prepend a BOM that would break line 1.
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise QuestionFileError(f"question file {path} does not exist; give the path of a .jsonl file "
                                "in the format of shared/eval/FORMAT.md") from None
    except OSError as err:
        raise QuestionFileError(f"cannot read question file {path} ({err.strerror}); give the path of a "
                                "readable .jsonl file") from None
    except UnicodeDecodeError as err:
        raise QuestionFileError(f"{path} is not UTF-8 (byte {err.start}); save it as UTF-8") from None
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            question = _parse_line(line, number, documents)
        except QuestionFileError as err:
            raise QuestionFileError(f"{path} line {number}: {err}") from None
        if question.qid in first_line:
            raise QuestionFileError(f"{path} line {number}: id {_show(question.qid)} is already used on line "
                                    f"{first_line[question.qid]}; give each question its own id")
        first_line[question.qid] = number
        questions.append(question)
    if not questions:
        raise QuestionFileError(f"{path} holds no questions; write one JSON object per line (see FORMAT.md)")
    return tuple(questions)


def _parse_line(line: str, number: int, documents: Mapping[str, Document]) -> Question:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise QuestionFileError(f"not valid JSON ({err.msg} at column {err.colno}); "
                                "each line must be one JSON object") from None
    if not isinstance(data, dict):
        raise QuestionFileError(f"expected a JSON object, got {_json_type(data)}")
    missing = [name for name in FIELDS if name not in data]
    if missing:
        raise QuestionFileError(f'missing field "{missing[0]}"; every question needs '
                                f'{", ".join(FIELDS)} (see FORMAT.md)')
    for name in ("id", "question"):
        if not isinstance(data[name], str) or not data[name].strip():
            raise QuestionFileError(f'field "{name}" must be a non-empty string, got {_show(data[name])}')
    answers = data["answers"]
    if not isinstance(answers, list) or not all(
            isinstance(fact, list) and fact and all(isinstance(s, str) and s.strip() for s in fact)
            for fact in answers):
        raise QuestionFileError('field "answers" must be a list of facts, each a non-empty list of non-empty '
                                f'strings, e.g. [["2024", "next year"]]; got {_show(answers)}')
    if not isinstance(data["evidence"], list):
        raise QuestionFileError(f'field "evidence" must be a list of {{"doc", "quote"}} objects, '
                                f'got {_show(data["evidence"])}')
    if not isinstance(data["answerable"], bool):
        raise QuestionFileError(f'field "answerable" must be true or false, got {_show(data["answerable"])}')
    history = parse_history(data["history"]) if "history" in data else ()
    evidence = tuple(_evidence(i, entry, documents) for i, entry in enumerate(data["evidence"]))
    return Question(qid=data["id"], text=data["question"], answers=tuple(tuple(fact) for fact in answers),
                    evidence=evidence, answerable=data["answerable"], line=number, history=history)


def parse_history(value: Any) -> tuple[str, ...]:
    """The optional `history` field of a question line: the earlier questions, oldest first."""
    if not isinstance(value, list):
        raise QuestionFileError('field "history" must be a list of the earlier questions (strings, oldest first) '
                                f'or left out; got {_show(value)}')
    for i, entry in enumerate(value):
        if not isinstance(entry, str) or not entry.strip():
            raise QuestionFileError(f"history[{i}] must be a non-empty string, the text of an earlier question; "
                                    f"got {_show(entry)}")
    return tuple(value)


def _evidence(i: int, entry: Any, documents: Mapping[str, Document]) -> Evidence:
    if not (isinstance(entry, dict) and isinstance(entry.get("doc"), str)
            and isinstance(entry.get("quote"), str) and entry["quote"]):
        raise QuestionFileError(f'evidence[{i}] must be an object with string "doc" and non-empty string '
                                f'"quote"; got {_show(entry)}')
    doc_id, quote = entry["doc"], entry["quote"]
    if doc_id not in documents:
        stem = doc_id.removesuffix(".txt")
        close = [stem] if stem in documents else difflib.get_close_matches(doc_id, list(documents), n=1)
        known = sorted(documents)
        hint = f"did you mean {_show(close[0])}?" if close else \
            "known ids: " + ", ".join(known[:5]) + (", …" if len(known) > 5 else "")
        raise QuestionFileError(f"evidence[{i}] names doc {_show(doc_id)}, which is not in the corpus; "
                                f"use the article's file name without .txt ({hint})")
    start = documents[doc_id].raw.find(quote)
    if start < 0:
        raise QuestionFileError(f"evidence[{i}] quote {_show(quote)} is not in the raw text of {doc_id}; "
                                "copy it verbatim from the .txt file (markdown links and curly quotes included)")
    return Evidence(doc_id=doc_id, start=start, end=start + len(quote), quote=quote)


def _json_type(value: Any) -> str:
    names = {bool: "true/false", str: "a string", int: "a number", float: "a number", list: "a list",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _show(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ---------------------------------------------------------------- running and scoring

def evaluate(questions: Sequence[Question], ask: Ask, nli: NliChecker | None = None) -> Report:
    """Every question through `ask(question, history)` (e.g. `RAG.ask`) after its own history, scored; NLI
    support check only when `nli` is given."""
    results = tuple(_run(question, ask, nli) for question in questions)
    return Report(results=results, metrics=aggregate([r.scores for r in results]),
                  nli=nli.name if nli else "skipped")


def _run(question: Question, ask: Ask, nli: NliChecker | None) -> QuestionResult:
    turns = earlier_turns(ask, question.history)
    started = time.perf_counter()
    answer = ask(question.text, turns)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if "total" not in answer.timings_ms:
        answer = dataclasses.replace(answer, timings_ms={**answer.timings_ms, "total": elapsed_ms})
    # Score what the report stores (timings rounded, JSON fields only), so re-scoring it gives the same numbers.
    recorded = answer_from_dict(answer_to_dict(answer))
    sentences = check_support(recorded, nli)
    return QuestionResult(question, recorded, sentences, score(question, recorded, sentences), turns)


def score(question: Question, answer: Answer, sentences: Sequence[SentenceSupport]) -> Scores:
    """The per-question values of every metric (see the module docstring for the definitions)."""
    refusal_accuracy = float(answer.refused != question.answerable)
    unsupported = float(sum(not s.supported for s in sentences))
    words = float(word_count(_MARKER.sub(" ", answer.text)))
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
    hits = [_hits(p.chunk.doc_id, p.chunk.start, p.chunk.end, evidence) for p in ranked]

    def hit_at(k: int) -> float:
        return float(any(hits[:k]))

    def recall_at(k: int) -> float:
        return len(frozenset().union(*hits[:k])) / len(evidence)

    mrr = next((1 / rank for rank, h in enumerate(hits[:MRR_DEPTH], start=1) if h), 0.0)
    relevant = [bool(h) for h in hits[:NDCG_DEPTH]]
    dcg = sum(1 / math.log2(rank + 1) for rank, r in enumerate(relevant, start=1) if r)
    ideal = min(NDCG_DEPTH, max(len(evidence), sum(relevant)))
    idcg = sum(1 / math.log2(rank + 1) for rank in range(1, ideal + 1))
    cited = [bool(_hits(c.doc_id, c.start, c.end, evidence)) for c in answer.citations]
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
    """The answer text covers a fact when it contains any one of its strings, case ignored (FORMAT.md)."""
    folded = text.casefold()
    return any(s.casefold() in folded for s in fact)


def _hits(doc_id: str, start: int, end: int, evidence: Sequence[Evidence]) -> frozenset[int]:
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


# ---------------------------------------------------------------- citation support

_MARKER = re.compile(r"\[(\d+)\]")
_LEADING_MARKERS = re.compile(r"^(?:\[\d+\]\s*)+")
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'"})
_ELLIPSIS = re.compile(r"…|\.\.\.")
_EDGE = " \"'.,;:!?-–—•*·"


def cited_sentences(text: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The answer's sentences, markers removed, each with the marker numbers that cite it.

    Lines split first (list answers), then sentences; markers that open a
    sentence ("Claim. [1] Next.") belong to the sentence before them.
    """
    pieces: list[tuple[str, tuple[int, ...]]] = []
    for line in text.splitlines():
        line = re.sub(r"([.!?])(\[\d+\])", r"\1 \2", line)  # "Claim.[1] Next" splits like "Claim. [1] Next"
        for start, end in split_sentences(line):
            sentence = line[start:end]
            lead = _LEADING_MARKERS.match(sentence)
            if lead and pieces:
                claim, markers = pieces[-1]
                pieces[-1] = (claim, markers + _numbers(lead.group()))
                sentence = sentence[lead.end():]
            # "Claim [1]." reads "Claim." once its marker is gone.
            claim = re.sub(r" ([.,;:!?])", r"\1", " ".join(_MARKER.sub(" ", sentence).split()))
            if claim.strip(_EDGE):
                pieces.append((claim, _numbers(sentence)))
    return tuple(pieces)


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in _MARKER.findall(text))


def check_support(answer: Answer, nli: NliChecker | None = None) -> tuple[SentenceSupport, ...]:
    """Each sentence of a non-refused answer, checked against the spans it cites."""
    if answer.refused:
        return ()
    checked = []
    for claim, markers in cited_sentences(answer.text):
        cited = [c for c in answer.citations if c.n in markers]
        # The readable form and the raw span both count: the answer may quote either.
        texts = (" ".join(c.clean for c in cited), " ".join(c.text for c in cited))
        supported = bool(cited) and substring_support(claim, texts)
        entailed = None if nli is None else bool(cited) and nli.entails(claim, [c.clean or c.text for c in cited])
        checked.append(SentenceSupport(text=claim, markers=markers, supported=supported, entailed=entailed))
    return tuple(checked)


def substring_support(sentence: str, texts: Sequence[str]) -> bool:
    """True when the normalised sentence (every part of it, if cut with an ellipsis) is inside one of `texts`."""
    parts = [p.strip(_EDGE) for p in _ELLIPSIS.split(_normalise(sentence))]
    parts = [p for p in parts if p]
    sources = [_normalise(t) for t in texts]
    return bool(parts) and any(all(p in source for p in parts) for source in sources)


def _normalise(text: str) -> str:
    # clean_text reduces markdown links to their words, drops emphasis marks and folds whitespace.
    return clean_text(text, ((0, len(text)),)).text.translate(_QUOTES).casefold()


def load_nli(model_dir: Path) -> NliChecker:
    """An entailment checker from a local sentence-transformers CrossEncoder trained for NLI."""
    if not (model_dir / "config.json").is_file():
        raise ModelError(f"--nli-model {model_dir} is not a model folder (no config.json); give the folder "
                         "of a local sentence-transformers CrossEncoder trained for NLI")
    from sentence_transformers import CrossEncoder  # heavy import, only when an NLI model is asked for

    try:
        model = CrossEncoder(str(model_dir), local_files_only=True)
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot load the NLI model in {model_dir} ({err}); check the folder is complete") from None
    labels = {int(i): str(label).lower() for i, label in model.config.id2label.items()}
    entail = [i for i, label in labels.items() if label.startswith("entail")]
    if not entail:
        raise ModelError(f"the model in {model_dir} has labels {sorted(labels.values())}, none is 'entailment'; "
                         "give an NLI cross-encoder (labels contradiction/entailment/neutral)")

    def entails(sentence: str, premises: Sequence[str]) -> bool:
        logits = model.predict([(" ".join(premises), sentence)])
        return int(np.argmax(logits[0])) == entail[0]

    return NliChecker(name=str(model_dir), entails=entails)


# ---------------------------------------------------------------- the JSON report

def report_to_dict(report: Report, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The whole report as JSON-ready data; `settings` (model, index fingerprint, k, answerer...) is stored as given."""
    nli_ran = report.nli != "skipped"
    return {
        "version": REPORT_VERSION,
        "settings": dict(settings),
        "support": {
            "checker": "substring",
            "nli": report.nli,
            "unsupported_sentences": sum(int(r.scores.unsupported_sentences) for r in report.results),
            "nli_unsupported_sentences": sum(s.entailed is False for r in report.results for s in r.sentences)
            if nli_ran else "skipped",
        },
        "metrics": metrics_to_dict(report.metrics),
        "questions": [_result_to_dict(r) for r in report.results],
    }


def metrics_to_dict(metrics: Sequence[Metric]) -> dict[str, Any]:
    return {m.name: {"value": m.value, "ci95": None if m.low is None else [m.low, m.high], "n": m.n}
            for m in metrics}


def _result_to_dict(result: QuestionResult) -> dict[str, Any]:
    q = result.question
    return {
        "id": q.qid,
        "line": q.line,
        "question": q.text,
        "history": [{"question": t.question, "answer": t.answer} for t in result.turns],
        "answerable": q.answerable,
        "answers": [list(fact) for fact in q.answers],
        "evidence": [{"doc": e.doc_id, "start": e.start, "end": e.end, "quote": e.quote} for e in q.evidence],
        "answer": answer_to_dict(result.answer),
        "scores": {name: result.scores.value(name) for name in METRIC_NAMES},
        "missed": result.missed,
        "sentences": [{"text": s.text, "citations": list(s.markers), "supported": s.supported,
                       "entailed": s.entailed} for s in result.sentences],
    }


def write_report(path: Path, report: Report, settings: Mapping[str, Any]) -> None:
    """Write the JSON report atomically: a crash never leaves half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(report_to_dict(report, settings), indent=2, ensure_ascii=False) + "\n",
                         encoding="utf-8")
    os.replace(temporary, path)


def load_report(path: Path) -> dict[str, Any]:
    """A report written by `write_report`, checked for its version."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportFileError(f"report {path} does not exist; write one with python -m rag eval --json") from None
    except OSError as err:
        raise ReportFileError(f"cannot read report {path} ({err.strerror}); give a readable file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ReportFileError(f"report {path} is not UTF-8 JSON ({err}); give a file written by --json") from None
    if not isinstance(data, dict) or data.get("version") != REPORT_VERSION:
        version = data.get("version") if isinstance(data, dict) else None
        raise ReportFileError(f"{path} is not a version-{REPORT_VERSION} evaluation report (version {version!r}); "
                              "write it again with python -m rag eval --json")
    return data


def results_from_dict(report: Mapping[str, Any]) -> tuple[QuestionResult, ...]:
    """Every question re-scored from the answers and gold ranges a report holds (NLI verdicts not re-run)."""
    try:
        results = []
        for entry in report["questions"]:
            turns = tuple(Turn(t["question"], t["answer"]) for t in entry.get("history", []))
            question = Question(
                qid=entry["id"], text=entry["question"], answerable=bool(entry["answerable"]),
                answers=tuple(tuple(fact) for fact in entry["answers"]),
                evidence=tuple(Evidence(e["doc"], int(e["start"]), int(e["end"]), e["quote"])
                               for e in entry["evidence"]),
                line=int(entry.get("line", 0)), history=tuple(t.question for t in turns),
            )
            answer = answer_from_dict(entry["answer"])
            sentences = check_support(answer)
            results.append(QuestionResult(question, answer, sentences, score(question, answer, sentences), turns))
    except (KeyError, TypeError, ValueError, QuestionFileError) as err:
        raise ReportFileError(f"the report's questions cannot be re-scored ({type(err).__name__}: {err}); "
                              "give a file written by python -m rag eval --json") from None
    return tuple(results)


def rescore(report: Mapping[str, Any]) -> tuple[Metric, ...]:
    """Every metric recomputed from a report's per-question answers and gold ranges alone."""
    return aggregate([r.scores for r in results_from_dict(report)])


# ---------------------------------------------------------------- floors and comparison

def parse_limits(limits: Sequence[str], flag: str = "--min") -> tuple[tuple[str, float], ...]:
    """`METRIC=VALUE` strings as (metric, value); raises ConfigError naming the bad one."""
    parsed = []
    for limit in limits:
        name, sep, raw = limit.partition("=")
        name = name.strip()
        if not sep:
            raise ConfigError(f"{flag} {limit!r} is not METRIC=VALUE; write e.g. {flag} hit@5=0.9")
        if name not in METRIC_NAMES:
            raise ConfigError(f"{flag} {limit!r}: unknown metric {name!r}; use one of: {', '.join(METRIC_NAMES)}")
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{flag} {limit!r}: {raw.strip()!r} is not a number; give a value such as 0.9") from None
        parsed.append((name, value))
    return tuple(parsed)


def check_floors(metrics: Sequence[Metric], floors: Sequence[str], ceilings: Sequence[str] = ()) -> list[str]:
    """One message per metric below its floor (`--min M=V`) or above its ceiling (`--max M=V`); empty when all pass."""
    by_name = {m.name: m for m in metrics}
    failures = []
    for flag, limits in (("--min", floors), ("--max", ceilings)):
        for name, limit in parse_limits(limits, flag):
            value = by_name[name].value
            if value is None:
                failures.append(f"{name} has no value (no question it applies to), so {flag} {name}={limit:g} "
                                "cannot be met")
            elif flag == "--min" and value < limit:
                failures.append(f"{name} = {value:.3f} is below its floor {limit:g}")
            elif flag == "--max" and value > limit:
                failures.append(f"{name} = {value:.3f} is above its ceiling {limit:g}")
    return failures


@dataclass(frozen=True)
class MetricChange:
    name: str
    old: float | None
    new: float | None

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else round(self.new - self.old, 6)


@dataclass(frozen=True)
class Regression:
    qid: str
    question: str
    drops: tuple[tuple[str, float, float], ...]  # (metric, old, new), each worse than before


@dataclass(frozen=True)
class Comparison:
    changes: tuple[MetricChange, ...]
    regressions: tuple[Regression, ...]
    only_old: tuple[str, ...]  # question ids missing from the new report
    only_new: tuple[str, ...]


def compare(old: Mapping[str, Any], new: Report) -> Comparison:
    """Each metric's change since an earlier report (re-scored, so both use today's definitions), and the
    questions, matched by id, that got worse on some quality metric."""
    old_results = results_from_dict(old)
    old_metrics = aggregate([r.scores for r in old_results])
    changes = tuple(MetricChange(o.name, o.value, n.value) for o, n in zip(old_metrics, new.metrics, strict=True))
    before = {r.question.qid: r for r in old_results}
    regressions = []
    for result in new.results:
        earlier = before.get(result.question.qid)
        if earlier is None:
            continue
        drops = tuple((name, was, now) for name, direction in METRICS
                      if direction and (was := earlier.scores.value(name)) is not None
                      and (now := result.scores.value(name)) is not None and (now - was) * direction < 0)
        if drops:
            regressions.append(Regression(result.question.qid, result.question.text, drops))
    new_ids = {r.question.qid for r in new.results}
    return Comparison(changes=changes, regressions=tuple(regressions),
                      only_old=tuple(qid for qid in before if qid not in new_ids),
                      only_new=tuple(r.question.qid for r in new.results if r.question.qid not in before))


# ---------------------------------------------------------------- plain-text tables

def format_value(name: str, value: float | None) -> str:
    """A metric's value as the tables print it: n/a, 1 decimal for words and ms, else 3."""
    if value is None:
        return "n/a"
    return f"{value:.1f}" if name in ("answer_words", "latency_ms") else f"{value:.3f}"


def render_report(report: Report) -> str:
    """The metrics with their intervals, then each missed question: what was expected, what was cited."""
    answerable = sum(r.question.answerable for r in report.results)
    total_unsupported = sum(int(r.scores.unsupported_sentences) for r in report.results)
    lines = [f"{len(report.results)} questions ({answerable} answerable, {len(report.results) - answerable} "
             f"unanswerable)", "", f"{'metric':<22} {'value':>8}  {'95% CI':<18} {'n':>4}"]
    for m in report.metrics:
        ci = "" if m.low is None else f"[{format_value(m.name, m.low)}, {format_value(m.name, m.high)}]"
        lines.append(f"{m.name:<22} {format_value(m.name, m.value):>8}  {ci:<18} {m.n:>4}")
    nli = "skipped" if report.nli == "skipped" else \
        f"{sum(s.entailed is False for r in report.results for s in r.sentences)} not entailed ({report.nli})"
    lines += ["", f"unsupported sentences: {total_unsupported} in total; NLI check: {nli}"]
    missed = [r for r in report.results if r.missed]
    lines += ["", f"missed {len(missed)} of {len(report.results)} questions" + (":" if missed else "")]
    for r in missed:
        lines += [f"{r.question.qid}  {r.question.text}"] + [f"    {line}" for line in _miss_lines(r)]
    return "\n".join(lines)


def _miss_lines(result: QuestionResult) -> list[str]:
    q, a = result.question, result.answer
    after = [f"after     {_show(t.question)}" for t in result.turns]
    if not q.answerable:
        expected = ["expected  a refusal"]
    else:
        expected = ["expected  " + "; ".join(" / ".join(fact) for fact in q.answers)]
        expected += [f"evidence  {e.doc_id} [{e.start}, {e.end}) {_show(e.quote)}" for e in q.evidence]
    answered = [f"answer    {'(refused) ' if a.refused else ''}{_show(a.text, 100)}"]
    cited = [f"cited     [{c.n}] {c.doc_id} ¶{c.paragraph} [{c.start}, {c.end}) "
             f"{'hit' if _hits(c.doc_id, c.start, c.end, q.evidence) else 'miss'}" for c in a.citations]
    return after + expected + answered + (cited or ["cited     nothing"])


def render_comparison(comparison: Comparison) -> str:
    """Each metric old → new with its change, then the questions that got worse."""
    lines = [f"{'metric':<22} {'old':>8} {'new':>8} {'change':>8}"]
    for c in comparison.changes:
        delta = "n/a" if c.delta is None else f"{c.delta:+.3f}"
        lines.append(f"{c.name:<22} {format_value(c.name, c.old):>8} {format_value(c.name, c.new):>8} {delta:>8}")
    lines += ["", f"worse on {len(comparison.regressions)} question(s)" + (":" if comparison.regressions else "")]
    for r in comparison.regressions:
        drops = ", ".join(f"{name} {format_value(name, was)} → {format_value(name, now)}"
                          for name, was, now in r.drops)
        lines.append(f"{r.qid}  {r.question}: {drops}")
    if comparison.only_old:
        lines.append("only in the old report: " + ", ".join(comparison.only_old))
    if comparison.only_new:
        lines.append("only in the new report: " + ", ".join(comparison.only_new))
    return "\n".join(lines)
