"""Leave-one-set-out cross-validation of the learned answerer: the development figure.

Each labeled set is answered by a model fitted on all the others, through the
whole pipeline (`RAG.ask`, follow-ups after their history), and scored as
`rag eval` scores it. A set's figures therefore say how the answerer does on
questions written apart from those it learned from. Sets are pooled by
summing their questions, not averaging their means.

A labeled set is a question file and its corpus: the `corpus/` folder beside
the file when there is one, else the configured corpus; its index is built
in the `index/` folder beside the file. Sets on one corpus share one index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.answer.learned import LearnedModel, TrainedOn
from rag.answer.signals import ANSWER_GROUPS, FURTHER_GROUPS, SENTENCE_GROUPS
from rag.config import Settings, default_index_dir
from rag.evaluation.metrics import aggregate
from rag.evaluation.questions import Question, load_questions
from rag.evaluation.results import Report
from rag.evaluation.run import evaluate
from rag.evaluation.training import PLAIN_SUM, Example, file_digest, fit, gather
from rag.pipeline import RAG, ensure_index, load_embedder

# The figures a cross-validation table shows, in order.
SHOWN = ("hit@5", "citation_recall", "citation_precision", "answer_recall", "refusal_accuracy", "answer_words")


@dataclass(frozen=True)
class LabeledSet:
    name: str  # the file's stem; for a file named questions.jsonl, its folder's name
    path: Path
    corpus_dir: Path | None  # None: the configured corpus
    index_dir: Path | None = None  # with corpus_dir: where that corpus's index is built


def labeled_set(path: Path, corpus_dir: Path | None = None) -> LabeledSet:
    """A question file asked of `corpus_dir` when given (its index where `rag --corpus DIR index` builds it), else
    of the `corpus/` folder beside it (its index in `index/` beside it), else of the configured corpus."""
    name = path.parent.name if path.stem == "questions" else path.stem
    if corpus_dir is not None:
        return LabeledSet(name, path, corpus_dir, default_index_dir(corpus_dir))
    beside = path.parent / "corpus"
    if beside.is_dir():
        return LabeledSet(name, path, beside, path.parent / "index")
    return LabeledSet(name, path, None)


class Workbench:
    """One loaded pipeline per corpus, sharing one embedding model, for fitting and cross-validation."""

    def __init__(self, settings: Settings, progress: Callable[[str], None] = lambda message: None) -> None:
        self.settings = settings
        self.progress = progress
        self.embedder = load_embedder(settings)
        self._rags: dict[Path | None, RAG] = {}
        self._questions: dict[Path, tuple[Question, ...]] = {}
        self._examples: dict[Path, list[Example]] = {}

    def rag_for(self, labeled: LabeledSet) -> RAG:
        if labeled.corpus_dir not in self._rags:
            settings = self.settings.replace(answerer="learned")
            if labeled.corpus_dir is not None:
                settings = settings.replace(corpus_dir=labeled.corpus_dir, index_dir=labeled.index_dir)
            report = ensure_index(settings, self.embedder, progress=self.progress)
            self._rags[labeled.corpus_dir] = RAG(settings, self.embedder, report.documents, model=PLAIN_SUM)
        return self._rags[labeled.corpus_dir]

    def questions(self, labeled: LabeledSet) -> tuple[Question, ...]:
        if labeled.path not in self._questions:
            self._questions[labeled.path] = load_questions(labeled.path, self.rag_for(labeled).documents)
        return self._questions[labeled.path]

    def examples(self, labeled: LabeledSet) -> list[Example]:
        """The set's examples, gathered once (earlier turns answered by `PLAIN_SUM`)."""
        if labeled.path not in self._examples:
            rag = self.rag_for(labeled)
            rag.use_model(PLAIN_SUM)
            self._examples[labeled.path] = gather(labeled.name, self.questions(labeled), rag.ask, rag.ranked)
        return self._examples[labeled.path]

    def fit(self, sets: Sequence[LabeledSet], drop: frozenset[str] = frozenset()) -> LearnedModel:
        counts = [len(self.questions(s)) for s in sets]  # read first: a missing file is told as one
        trained_on = tuple(TrainedOn(str(s.path), file_digest(s.path), n) for s, n in zip(sets, counts, strict=True))
        return fit([e for s in sets for e in self.examples(s)], trained_on, drop)

    def answer_with(self, model: LearnedModel, labeled: LabeledSet) -> Report:
        rag = self.rag_for(labeled)
        rag.use_model(model)
        return evaluate(self.questions(labeled), rag.ask)

    def answer_by_rules(self, labeled: LabeledSet) -> Report:
        """The set answered by the hand-set rules (`RAG_ANSWERER=extractive`), on the same index."""
        learned = self.rag_for(labeled)
        rules = RAG(learned.settings.replace(answerer="extractive"), self.embedder, list(learned.documents.values()),
                    model=PLAIN_SUM)
        try:
            return evaluate(self.questions(labeled), rules.ask)
        finally:
            rules.close()

    def close(self) -> None:
        for rag in self._rags.values():
            rag.close()


def cross_validate(bench: Workbench, sets: Sequence[LabeledSet],
                   drop: frozenset[str] = frozenset()) -> dict[str, Report]:
    """Each set's report, answered by a model fitted on all the other sets."""
    return {held.name: bench.answer_with(bench.fit([s for s in sets if s is not held], drop), held)
            for held in sets}


def pooled(reports: Mapping[str, Report], names: Iterable[str]) -> dict[str, float | None]:
    """The metrics over every question of the named sets' reports, together."""
    scores = [r.scores for name in names for r in reports[name].results]
    return {m.name: m.value for m in aggregate(scores)}


def figures(report: Report) -> dict[str, float | None]:
    return {m.name: m.value for m in report.metrics}


def table(rows: Mapping[str, tuple[int, Mapping[str, float | None]]]) -> str:
    """A plain-text table: one row per set or pool (its question count and figures)."""
    from rag.evaluation.metrics import format_value

    width = max(len(name) for name in rows) + 2
    lines = [f"{'set':<{width}}{'n':>5}" + "".join(f"{m:>20}" for m in SHOWN)]
    for name, (n, values) in rows.items():
        lines.append(f"{name:<{width}}{n:>5}" + "".join(f"{format_value(m, values.get(m)):>20}" for m in SHOWN))
    return "\n".join(lines)


def ablation(bench: Workbench, sets: Sequence[LabeledSet], pools: Mapping[str, Sequence[str]],
             rows: Mapping[str, tuple[int, Mapping[str, float | None]]]) -> str:
    """Each group of signals left out in turn: the change against `rows` (all signals; `table`'s rows) in the
    pooled and per-set citation recall and refusal accuracy, as a plain-text table."""
    groups: dict[str, set[str]] = {}
    for kind in (SENTENCE_GROUPS, ANSWER_GROUPS, FURTHER_GROUPS):
        for group, names in kind.items():
            groups.setdefault(group, set()).update(names)
    targets = [*(f"{p} (pooled)" for p in pools), *(s.name for s in sets)]
    lines = ["Without each group of signals (change against all signals; citation recall / refusal accuracy):",
             f"{'group':<16}" + "".join(f"{t:>26}" for t in targets)]
    for group, names in groups.items():
        got = cross_validate(bench, sets, frozenset(names))
        values = {s.name: figures(got[s.name]) for s in sets}
        values |= {f"{p} (pooled)": pooled(got, members) for p, members in pools.items()}
        cells = []
        for t in targets:
            before = rows[t][1]
            delta = [(values[t][m] or 0.0) - (before[m] or 0.0) for m in ("citation_recall", "refusal_accuracy")]
            cells.append(f"{delta[0]:+.3f} / {delta[1]:+.3f}")
        lines.append(f"{group:<16}" + "".join(f"{c:>26}" for c in cells))
    return "\n".join(lines)
