"""What an evaluation produces: one `QuestionResult` per question, and the `Report` holding them all."""

from __future__ import annotations

from dataclasses import dataclass

from rag.evaluation.metrics import METRIC_NAMES, Metric, Scores
from rag.evaluation.questions import Question
from rag.evaluation.support import SentenceSupport
from rag.schema import Answer, ConfigError, Turn


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
class Report:
    results: tuple[QuestionResult, ...]
    metrics: tuple[Metric, ...]
    nli: str  # the NLI model directory, or "skipped"

    def metric(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise ConfigError(f"unknown metric {name!r}; use one of: {', '.join(METRIC_NAMES)}")
