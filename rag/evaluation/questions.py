"""Question files (docs/EVAL.md): one JSON object a line → `Question`s with resolved evidence ranges.

Evidence quotes are located in the articles' raw text (`raw.find(quote)`), so
every later score is computed from character ranges, never from text. Bad
lines raise `QuestionFileError` naming the file, the line and the fix.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.schema import Document, QuestionFileError

FIELDS = ("id", "question", "answers", "evidence", "answerable")


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
class QuestionSet:
    questions: tuple[Question, ...]
    # Ids of answerable questions whose "answers" and "evidence" are both still empty: exported from readers'
    # ratings (rag.serve.feedback_export) and not labeled yet. They are skipped, not errors.
    unlabeled: tuple[str, ...] = ()


def load_questions(path: Path, documents: Mapping[str, Document]) -> tuple[Question, ...]:
    """The labeled questions of a question file (docs/EVAL.md), evidence ranges resolved in `documents`' raw text."""
    return load_question_set(path, documents).questions


def load_question_set(path: Path, documents: Mapping[str, Document]) -> QuestionSet:
    """The questions of a question file (docs/EVAL.md), and the ids of those left to label (`QuestionSet.unlabeled`)."""
    try:
        # utf-8-sig: editors on Windows prepend a BOM that would break line 1.
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise QuestionFileError(f"question file {path} does not exist; give the path of a .jsonl file "
                                "in the format of docs/EVAL.md#question-files") from None
    except OSError as err:
        raise QuestionFileError(f"cannot read question file {path} ({err.strerror}); give the path of a "
                                "readable .jsonl file") from None
    except UnicodeDecodeError as err:
        raise QuestionFileError(f"{path} is not UTF-8 (byte {err.start}); save it as UTF-8") from None
    questions: list[Question] = []
    unlabeled: list[str] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            question = _parse_line(line, number, documents)
        except QuestionFileError as err:
            raise QuestionFileError(f"{path} line {number}: {err}") from None
        qid = question if isinstance(question, str) else question.qid
        if qid in first_line:
            raise QuestionFileError(f"{path} line {number}: id {show(qid)} is already used on line "
                                    f"{first_line[qid]}; give each question its own id")
        first_line[qid] = number
        if isinstance(question, str):
            unlabeled.append(question)
        else:
            questions.append(question)
    if not questions and unlabeled:
        raise QuestionFileError(f"{path} holds no labeled question: all {len(unlabeled)} still have empty "
                                '"answers" and "evidence"; fill them in (or set "answerable": false)')
    if not questions:
        raise QuestionFileError(f"{path} holds no questions; write one JSON object per line (see docs/EVAL.md#question-files)")
    return QuestionSet(tuple(questions), tuple(unlabeled))


def _parse_line(line: str, number: int, documents: Mapping[str, Document]) -> Question | str:
    """The line's question, or only its id when it is still to be labeled."""
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
                                f'{", ".join(FIELDS)} (see docs/EVAL.md#question-files)')
    for name in ("id", "question"):
        if not isinstance(data[name], str) or not data[name].strip():
            raise QuestionFileError(f'field "{name}" must be a non-empty string, got {show(data[name])}')
    answers = data["answers"]
    if not isinstance(answers, list) or not all(
            isinstance(fact, list) and fact and all(isinstance(s, str) and s.strip() for s in fact)
            for fact in answers):
        raise QuestionFileError('field "answers" must be a list of facts, each a non-empty list of non-empty '
                                f'strings, e.g. [["2024", "next year"]]; got {show(answers)}')
    if not isinstance(data["evidence"], list):
        raise QuestionFileError(f'field "evidence" must be a list of {{"doc", "quote"}} objects, '
                                f'got {show(data["evidence"])}')
    if not isinstance(data["answerable"], bool):
        raise QuestionFileError(f'field "answerable" must be true or false, got {show(data["answerable"])}')
    history = parse_history(data["history"]) if "history" in data else ()
    if data["answerable"] and not answers and not data["evidence"]:
        return data["id"]
    evidence = tuple(_evidence(i, entry, documents) for i, entry in enumerate(data["evidence"]))
    return Question(qid=data["id"], text=data["question"], answers=tuple(tuple(fact) for fact in answers),
                    evidence=evidence, answerable=data["answerable"], line=number, history=history)


def parse_history(value: Any) -> tuple[str, ...]:
    """The optional `history` field of a question line: the earlier questions, oldest first."""
    if not isinstance(value, list):
        raise QuestionFileError('field "history" must be a list of the earlier questions (strings, oldest first) '
                                f'or left out; got {show(value)}')
    for i, entry in enumerate(value):
        if not isinstance(entry, str) or not entry.strip():
            raise QuestionFileError(f"history[{i}] must be a non-empty string, the text of an earlier question; "
                                    f"got {show(entry)}")
    return tuple(value)


def _evidence(i: int, entry: Any, documents: Mapping[str, Document]) -> Evidence:
    if not (isinstance(entry, dict) and isinstance(entry.get("doc"), str)
            and isinstance(entry.get("quote"), str) and entry["quote"]):
        raise QuestionFileError(f'evidence[{i}] must be an object with string "doc" and non-empty string '
                                f'"quote"; got {show(entry)}')
    doc_id, quote = entry["doc"], entry["quote"]
    if doc_id not in documents:
        stem = doc_id.removesuffix(".txt")
        close = [stem] if stem in documents else difflib.get_close_matches(doc_id, list(documents), n=1)
        known = sorted(documents)
        hint = f"did you mean {show(close[0])}?" if close else \
            "known ids: " + ", ".join(known[:5]) + (", …" if len(known) > 5 else "")
        raise QuestionFileError(f"evidence[{i}] names doc {show(doc_id)}, which is not in the corpus; "
                                f"use the article's file name without .txt ({hint})")
    start = documents[doc_id].raw.find(quote)
    if start < 0:
        raise QuestionFileError(f"evidence[{i}] quote {show(quote)} is not in the raw text of {doc_id}; "
                                "copy it verbatim from the .txt file (markdown links and curly quotes included)")
    return Evidence(doc_id=doc_id, start=start, end=start + len(quote), quote=quote)


def _json_type(value: Any) -> str:
    names = {bool: "true/false", str: "a string", int: "a number", float: "a number", list: "a list",
             dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def show(value: Any, limit: int = 60) -> str:
    """`value` as JSON, cut to `limit` characters with an ellipsis: how messages and tables quote a value."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"
