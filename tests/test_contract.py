"""One Answer JSON: `ask --json`, `POST /api/ask` and an eval report give the same answer, field for field.

The same two questions (one a follow-up) go through the command line, the HTTP
API on a real server and `rag eval --json`; every field of every Answer JSON
must agree except the timings' values (their names must agree too). The
OpenAPI schema's models are the contract's own.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.answer.contract import AnswerOut, CitationOut, PassageOut
from rag.cli import main
from rag.pipeline import RAG
from tests.servers import RunningApp

EARLIER = "What did China say about the office?"
QUESTIONS = [
    {"id": "headline", "question": "Who opposed the Tokyo office?", "answerable": True,
     "answers": [["Macron"]], "evidence": [{"doc": "000_8a9c36b7067f3b95", "quote": "Macron had expressed his opposition"}]},
    {"id": "follow-up", "question": "And Russia?", "history": [EARLIER], "answerable": True,
     "answers": [["Russia"]], "evidence": [{"doc": "004_089e00b1afc4a471", "quote": "Russia"}]},
]


def run_cli(rag: RAG, *arguments: str) -> str:
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("RAG_")]:
            patch.delenv(name)
        with contextlib.redirect_stdout(out):
            code = main(["--corpus", str(rag.settings.corpus_dir), "--index", str(rag.settings.index_dir), *arguments])
    assert code == 0, out.getvalue()
    return out.getvalue()


def via_api(server: RunningApp) -> list[dict[str, Any]]:
    def ask(question: str, history: list[dict[str, str]]) -> dict[str, Any]:
        reply = httpx.post(f"{server.url}/api/ask", json={"question": question, "history": history}, timeout=60)
        assert reply.status_code == 200, reply.text
        return reply.json()

    earlier = ask(EARLIER, [])
    return [ask(QUESTIONS[0]["question"], []), ask(QUESTIONS[1]["question"], [{"question": EARLIER,
                                                                                "answer": earlier["answer"]}])]


def without_timing_values(answer: dict[str, Any]) -> dict[str, Any]:
    return {**answer, "timings_ms": sorted(answer["timings_ms"])}


def test_cli_api_and_eval_report_give_the_same_answer_json(rag: RAG, server: RunningApp, tmp_path: Path) -> None:
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(row) + "\n" for row in QUESTIONS), encoding="utf-8")
    report = tmp_path / "report.json"

    cli = [json.loads(line) for line in run_cli(rag, "ask", "--questions", str(questions), "--json").splitlines()]
    api = via_api(server)
    run_cli(rag, "eval", str(questions), "--json", str(report))
    evaluated = [entry["answer"] for entry in json.loads(report.read_text(encoding="utf-8"))["questions"]]

    assert [a["question"] for a in cli] == [row["question"] for row in QUESTIONS]
    assert all(list(answer) == list(AnswerOut.model_fields) for answer in cli + api + evaluated)
    assert all(list(c) == list(CitationOut.model_fields) for answer in cli + api + evaluated for c in answer["citations"])
    assert all(list(p) == list(PassageOut.model_fields) for answer in cli + api + evaluated for p in answer["passages"])
    assert cli[1]["citations"] and not cli[1]["refused"]
    for by_cli, by_api, by_eval in zip(cli, api, evaluated, strict=True):
        assert without_timing_values(by_cli) == without_timing_values(by_api) == without_timing_values(by_eval)


def test_openapi_answer_models_are_the_contract(server: RunningApp) -> None:
    components = httpx.get(f"{server.url}/openapi.json", timeout=30).json()["components"]["schemas"]

    for model in (AnswerOut, CitationOut, PassageOut):
        expected = model.model_json_schema(mode="serialization", ref_template="#/components/schemas/{model}")
        expected.pop("$defs", None)
        assert components[model.__name__] == expected
