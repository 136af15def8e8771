"""Follow-ups in question files through the real pipeline: `rag eval` and `rag ask --questions` ask each
question after its `history`, as the chat would, carrying each earlier answer into the next turn.

The CLI runs in-process (`rag.cli.main`) on the session's test index. Answer quality is not asserted here
(tests/answer/test_answers.py holds the floors); what is asserted is that the earlier turns were asked, carried, and
change what the follow-up retrieves.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rag.answer.contract import answer_to_dict
from rag.answer.conversation import ask_in_conversation
from rag.cli import main
from rag.evaluation.questions import load_questions
from rag.evaluation.report_file import load_report
from rag.evaluation.run import evaluate
from rag.pipeline import RAG
from rag.schema import Turn

LAVROV = "What did Russia's foreign minister Lavrov say about the Asia-Pacific?"
EXAMPLE = "Which partnership did he give as an example?"  # "he": Lavrov, named only in the earlier question
STANDALONE = "Through which embassy does Japan contact NATO?"


@pytest.fixture()
def follow_up_file(tmp_path: Path) -> Path:
    rows = [
        {"id": "f1", "question": EXAMPLE, "history": [LAVROV], "answers": [["AUKUS"]],
         "evidence": [{"doc": "001_2937925d5f1f2c3c", "quote": "the creation of the AUKUS partnership"}],
         "answerable": True},
        {"id": "f2", "question": STANDALONE, "answers": [["Danish Embassy"]],
         "evidence": [{"doc": "001_2937925d5f1f2c3c", "quote": "through the Danish Embassy"}], "answerable": True},
    ]
    path = tmp_path / "follow-ups.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture()
def cli(rag: RAG, monkeypatch: pytest.MonkeyPatch):
    """`python -m rag ARGS` in this process, on the test run's corpus and index, whatever RAG_* the shell sets."""
    for name in [name for name in os.environ if name.startswith("RAG_")]:
        monkeypatch.delenv(name)

    def run(*args: str) -> int:
        return main(["--corpus", str(rag.settings.corpus_dir), "--index", str(rag.settings.index_dir), *args])

    return run


def ranking(passages) -> list[tuple[str, int, int]]:
    return [(p["doc_id"], p["start"], p["end"]) for p in passages]


def without_timings(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key != "timings_ms"}


def test_eval_asks_the_history_first_and_carries_its_answer(rag: RAG, follow_up_file: Path):
    calls: list[tuple[str, tuple[Turn, ...]]] = []

    def recording_ask(question, history):
        calls.append((question, tuple(history)))
        return rag.ask(question, history)

    report = evaluate(load_questions(follow_up_file, rag.documents), recording_ask)

    earlier = rag.ask(LAVROV)
    assert calls == [(LAVROV, ()), (EXAMPLE, (Turn(LAVROV, earlier.text),)), (STANDALONE, ())]
    follow_up = report.results[0]
    assert follow_up.turns == (Turn(LAVROV, earlier.text),)
    assert follow_up.answer.question == EXAMPLE
    # The earlier turn matters: asked alone, the follow-up retrieves another ranking.
    alone = answer_to_dict(rag.ask(EXAMPLE))
    assert ranking(answer_to_dict(follow_up.answer)["passages"]) != ranking(alone["passages"])


def test_cli_eval_records_the_history_in_the_json_and_html_reports(rag: RAG, follow_up_file: Path, cli, tmp_path,
                                                                    capsys):
    json_path, html_path = tmp_path / "report.json", tmp_path / "out" / "report.html"
    assert cli("eval", str(follow_up_file), "--json", str(json_path), "--html", str(html_path)) == 0
    assert "2 questions (2 answerable, 0 unanswerable)" in capsys.readouterr().out

    first, second = load_report(json_path)["questions"]
    assert first["history"] == [{"question": LAVROV, "answer": rag.ask(LAVROV).text}]
    assert second["history"] == []
    expected = answer_to_dict(ask_in_conversation(rag.ask, [LAVROV], EXAMPLE))
    assert without_timings(first["answer"]) == without_timings(expected)
    page = html_path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert '<span class="earlier">What did Russia&#x27;s foreign minister Lavrov say about the Asia-Pacific?</span>' \
        in page


def test_cli_ask_questions_passes_the_history(rag: RAG, follow_up_file: Path, cli, capsys):
    assert cli("ask", "--questions", str(follow_up_file), "--json") == 0
    follow_up, standalone = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    assert (follow_up["question"], standalone["question"]) == (EXAMPLE, STANDALONE)  # earlier turns not printed
    in_conversation = answer_to_dict(ask_in_conversation(rag.ask, [LAVROV], EXAMPLE))
    assert without_timings(follow_up) == without_timings(in_conversation)
    assert ranking(follow_up["passages"]) != ranking(answer_to_dict(rag.ask(EXAMPLE))["passages"])
    assert without_timings(standalone) == without_timings(answer_to_dict(rag.ask(STANDALONE)))


def test_cli_ask_questions_names_the_line_of_a_bad_history(cli, tmp_path: Path, capsys):
    path = tmp_path / "bad.jsonl"
    lines = [{"question": "Who?"}, {"question": "And he?", "history": ["", "Who?"]}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert cli("ask", "--questions", str(path)) == 2
    assert capsys.readouterr().err == (f"error: {path}:2: history[0] must be a non-empty string, the text of an "
                                       'earlier question; got ""\n')
