"""The Answer JSON as evaluation reports store it: the one place this package serialises an `Answer`.

Every other module of `rag.evaluation` goes through these three functions,
so following a change of the Answer JSON contract is an edit of the import
below and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rag.answer.contract import answer_from_dict, answer_to_dict
from rag.schema import Answer


def answer_json(answer: Answer) -> dict[str, Any]:
    """The Answer JSON of `answer`, as reports write it."""
    return answer_to_dict(answer)


def answer_from_json(data: Mapping[str, Any]) -> Answer:
    """The `Answer` a report's Answer JSON holds."""
    return answer_from_dict(data)


def as_recorded(answer: Answer) -> Answer:
    """`answer` exactly as a report will hold it (timings rounded, JSON fields only), so scores re-score."""
    return answer_from_json(answer_json(answer))
