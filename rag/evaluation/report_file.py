"""The JSON report of `python -m rag eval --json`: written atomically, loaded with its version checked, re-scored.

A report holds each question with its gold ranges and the answer it got
(the Answer JSON, `answer_json.py`), so `rescore` recomputes every metric
from the file alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rag.evaluation.answer_json import answer_from_json, answer_json
from rag.evaluation.metrics import METRIC_NAMES, Metric, aggregate, score
from rag.evaluation.questions import Evidence, Question
from rag.evaluation.results import QuestionResult, Report
from rag.evaluation.support import check_support
from rag.schema import QuestionFileError, ReportFileError, Turn

REPORT_VERSION = 1


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
        "answer": answer_json(result.answer),
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
            answer = answer_from_json(entry["answer"])
            sentences = check_support(answer)
            results.append(QuestionResult(question, answer, sentences, score(question, answer, sentences), turns))
    except (KeyError, TypeError, ValueError, QuestionFileError) as err:
        raise ReportFileError(f"the report's questions cannot be re-scored ({type(err).__name__}: {err}); "
                              "give a file written by python -m rag eval --json") from None
    return tuple(results)


def rescore(report: Mapping[str, Any]) -> tuple[Metric, ...]:
    """Every metric recomputed from a report's per-question answers and gold ranges alone."""
    return aggregate([r.scores for r in results_from_dict(report)])
