"""`--compare OLD.json`: each metric's change since an earlier report, and the questions that got worse."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rag.evaluation.metrics import METRICS, aggregate
from rag.evaluation.report_file import results_from_dict
from rag.evaluation.results import Report


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
