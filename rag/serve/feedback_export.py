"""`python -m rag feedback export FILE`: "Not helpful" ratings as a question file to label (docs/EVAL.md).

Each line carries what the reader asked (`question`, `history`: the earlier
questions), what they rejected in fields of its own (`rejected_citations`:
the cited spans as `{doc, quote, start, end}`, `rejected_answer`, their
`comment`, the `rating` it came from) and empty `answers` and `evidence` for
a person to fill in. `rag eval` skips a line while both are still empty
(rag.evaluation.questions), so a half-labeled file can already be run.

The export never overwrites a file: labels already written there would be lost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.schema import RagError
from rag.serve.feedback import Rating

ID_CHARS = 12  # of a rating's id, in the question's id: unique enough for a file of ratings, short to read


def question_line(rating: Rating) -> dict[str, Any]:
    """One question-file object for a rating, its labels left empty."""
    answer = rating.answer
    return {
        "id": f"feedback-{rating.rating_id[:ID_CHARS]}",
        "question": rating.question,
        "history": [t.question for t in rating.history if t.question.strip()],
        "answers": [],
        "evidence": [],
        "answerable": True,
        "rejected_citations": [{"doc": c["doc_id"], "quote": c["text"], "start": c["start"], "end": c["end"]}
                               for c in answer.get("citations", [])],
        "rejected_answer": answer.get("answer", ""),
        "comment": rating.comment,
        "rating": {"id": rating.rating_id, "time": rating.time, "build_id": rating.build_id},
    }


def export_unhelpful(ratings: Sequence[Rating], path: Path) -> int:
    """Write the not-helpful `ratings`, oldest first, as a new question file at `path`; returns how many."""
    unhelpful = [r for r in reversed(ratings) if not r.helpful]
    text = "".join(json.dumps(question_line(r), ensure_ascii=False) + "\n" for r in unhelpful)
    try:
        with path.open("x", encoding="utf-8") as file:
            file.write(text)
    except FileExistsError:
        raise RagError(f"{path} exists already; give a new file name (an export never overwrites labels "
                       "written into an earlier one)") from None
    except OSError as err:
        raise RagError(f"cannot write {path} ({err.strerror}); give a path in a writable folder") from None
    return len(unhelpful)
