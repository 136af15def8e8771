"""`evaluate(questions, ask)`: every question asked after its own history, checked and scored."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from rag.answer.conversation import Ask, earlier_turns
from rag.evaluation.answer_json import as_recorded
from rag.evaluation.metrics import aggregate, score
from rag.evaluation.questions import Question
from rag.evaluation.results import QuestionResult, Report
from rag.evaluation.support import NliChecker, check_support


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
    recorded = as_recorded(answer)
    sentences = check_support(recorded, nli)
    return QuestionResult(question, recorded, sentences, score(question, recorded, sentences), turns)
