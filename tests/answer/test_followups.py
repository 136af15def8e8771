"""Follow-ups, near misses and same-subject questions through every interface (issue 10's acceptance).

Each case is asked through the library (`RAG.ask` with `Turn`s carrying the earlier answers), the HTTP API
(`POST /api/ask` on the `server` fixture, each history entry carrying the answer the API gave), the chat's
two events (`Chat.add_question`, then `Chat.add_answer` with the conversation kept so far), `python -m rag ask --questions FILE --json`
(in-process) and `rag.evaluation` (a question file with `history`); one browser test asks the two follow-ups in
the real page. Every interface's answers are gathered once per module and the same assertions run on each.

What tests/answer/test_conversation.py already covers (the history is asked first and carried; the CLI and eval
reports record it) is not repeated; here the answers themselves are checked: a pronoun ("he" → the person
of the earlier question) and an elided subject ("When?") answered and cited, near misses refused with the
refusal naming what is missing, and questions on the same subject that the articles do answer not refused.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from rag.answer.contract import answer_to_dict
from rag.answer.reading import Names, read_in_conversation, truecased
from rag.cli import main
from rag.config import PROJECT_ROOT
from rag.evaluation.questions import load_questions
from rag.evaluation.results import Report
from rag.evaluation.run import evaluate
from rag.pipeline import RAG
from rag.schema import Turn
from rag.serve.ui import Chat
from tests.servers import RunningApp, ask_in_page

CORPUS = PROJECT_ROOT / "corpus"
TAIL = "The closest passages are listed below."


@dataclass(frozen=True)
class Case:
    """One question after its history, with the gold a question file needs (docs/EVAL.md) for `rag eval`."""

    history: tuple[str, ...]
    question: str
    answers: tuple[tuple[str, ...], ...] = ()
    evidence: tuple[tuple[str, str], ...] = ()  # (doc, quote)
    answerable: bool = True


# A piece of every sentence in which Mao Ning speaks (the articles call her "Mao" and "the diplomat" too).
MAO_NING_SENTENCES = (
    ("001_2937925d5f1f2c3c", "said Chinese Foreign Ministry spokeswoman Mao Ning"),
    ("001_2937925d5f1f2c3c", "The diplomat stressed that Asia should not become an arena"),
    ("001_2937925d5f1f2c3c", "contribute to bloc confrontation,\" Mao Ning said."),
    ("002_04b1042d44fdcd04", "Mao Ning, spokesperson for the Chinese foreign ministry, said"),
    ("002_04b1042d44fdcd04", "Mao told a regular press conference"),
    ("003_b09e3f5b92ff1bf7", "Spokesperson Mao Ning stated that"),
)

CASES: dict[str, Case] = {
    # Follow-ups.
    "pronoun": Case(("Who is Li Shangfu?",), "What did he say about the cold war?",
                    answers=(("cold war mentality",),),
                    evidence=(("000_8a9c36b7067f3b95", "a cold war mentality is now resurgent"),)),
    "elided": Case(("Where is NATO holding its summit?",), "When?",
                   answers=(("July",),),
                   evidence=(("001_2937925d5f1f2c3c", "which will be held on July 11-12"),
                             ("002_04b1042d44fdcd04", "before the NATO Summit in Lithuania in July"),
                             ("003_b09e3f5b92ff1bf7", "attend the July Summit of NATO"))),
    # Near misses: the subject is in the articles, the asked fact is not.
    "sweden_when": Case((), "When did Sweden apply to join NATO?", answerable=False),
    "india_view": Case((), "What did India think of the liaison office?", answerable=False),
    "kistanov_age": Case(("Who is Valery Kistanov?",), "How old is he?", answerable=False),
    "office_staff": Case((), "How many staff will the Tokyo office have?", answerable=False),
    # The same subjects, asked for what the articles do say.
    "sweden_blocker": Case((), "Who is holding up Sweden's membership?",
                           answers=(("Turkey", "Hungary"),),
                           evidence=(("003_b09e3f5b92ff1bf7", "ratified by Turkey and Hungary"),)),
    "nato_members": Case((), "How many members does NATO have?",
                         answers=(("31",),),
                         evidence=(("002_04b1042d44fdcd04", "circulated a draft proposal among its 31 members"),)),
    "mao_ning": Case((), "What did Mao Ning say about NATO?",
                     answers=(("eastward expansion", "should not extend its reach", "violation of stability",
                               "battle arena", "arena for geopolitical"),),
                     evidence=MAO_NING_SENTENCES),
}
FOLLOW_UPS = ("pronoun", "elided", "kistanov_age")  # the cases with a history

# The refusals whose exact text the pipeline (rag/answer/asked.py `refusal`) defines for these questions.
EXACT_REFUSALS = {
    "sweden_when": f"The articles mention Sweden and NATO but don't say when. {TAIL}",
    "office_staff": f"The articles mention Tokyo but don't say how many staff. {TAIL}",
}

INTERFACES = ("library", "api", "chat", "cli", "eval")

# --- every interface's answers, in one shape: {"answer", "refused", "citations": [{doc_id, start, end, text}]}


def raw(doc_id: str) -> str:
    return (CORPUS / f"{doc_id}.txt").read_text(encoding="utf-8")


def shape(answer: dict[str, Any]) -> dict[str, Any]:
    """The parts of an Answer JSON every interface shows."""
    citations = [{key: c[key] for key in ("doc_id", "start", "end", "text")} for c in answer["citations"]]
    return {"answer": answer["answer"], "refused": answer["refused"], "citations": citations,
            "quotes": [c["quote"] for c in answer["citations"]]}


def via_library(rag: RAG) -> dict[str, dict]:
    answers = {}
    for name, case in CASES.items():
        turns: list[Turn] = []
        for earlier in case.history:
            turns.append(Turn(earlier, rag.ask(earlier, tuple(turns)).text))
        answers[name] = shape(answer_to_dict(rag.ask(case.question, turns)))
    return answers


def ask_api(server: RunningApp, question: str, history: list[dict]) -> dict:
    reply = httpx.post(f"{server.url}/api/ask", json={"question": question, "history": history}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()


def via_api(server: RunningApp) -> dict[str, dict]:
    answers = {}
    for name, case in CASES.items():
        history: list[dict] = []
        for earlier in case.history:
            history.append({"question": earlier, "answer": ask_api(server, earlier, history)["answer"]})
        answers[name] = shape(ask_api(server, case.question, history))
    return answers


_CITE_LINK = re.compile(r'<a\b[^>]*\bclass="rag-cite"[^>]*>')
_HREF = re.compile(r'\bhref="([^"]*)"')
_MARK = re.compile(r"<mark>(.*?)</mark>", re.DOTALL)


def chat_shape(html: str) -> dict[str, Any]:
    """What a chat reply shows: its answer text, whether it reads as a refusal, the ranges its [n] links open
    (their text taken from the article) and the highlighted quotes of its sources panel."""
    citations = []
    for link in _CITE_LINK.findall(html):
        url = urlsplit(unescape(_HREF.search(link).group(1)))
        query = parse_qs(url.query)
        doc_id = unquote(url.path.rsplit("/", 1)[1])
        start, end = int(query["start"][0]), int(query["end"][0])
        citations.append({"doc_id": doc_id, "start": start, "end": end, "text": raw(doc_id)[start:end]})
    return {"answer": shown_answer(html), "refused": 'class="rag-reply rag-refused"' in html, "citations": citations,
            "quotes": [unescape(m) for m in _MARK.findall(html)]}


def shown_answer(html: str) -> str:
    """The text of a chat reply's answer element, as a reader sees it (links as their text)."""
    inner = re.search(r'<div class="rag-answer">(.*?)</div>', html, flags=re.DOTALL).group(1)
    return unescape(re.sub(r"<[^>]+>", "", inner))


def via_chat(rag: RAG) -> dict[str, dict]:
    chat = Chat(rag)
    answers = {}
    for name, case in CASES.items():
        # The page's two events per question: show it, then answer it after the conversation kept so far.
        shown: list[dict] = []
        turns: list[Turn] = []
        for question in (*case.history, case.question):
            _, shown, asked = chat.add_question(question, shown)
            shown, turns = chat.add_answer(asked, shown, turns)
        answers[name] = chat_shape(shown[-1]["content"])
    return answers


def question_file(path: Path) -> Path:
    rows = []
    for name, case in CASES.items():
        row: dict[str, Any] = {"id": name, "question": case.question,
                               "answers": [list(fact) for fact in case.answers],
                               "evidence": [{"doc": doc, "quote": quote} for doc, quote in case.evidence],
                               "answerable": case.answerable}
        if case.history:
            row["history"] = list(case.history)
        rows.append(row)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def via_cli(rag: RAG, tmp_path: Path) -> dict[str, dict]:
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("RAG_")]:
            patch.delenv(name)
        with contextlib.redirect_stdout(out):
            code = main(["--corpus", str(rag.settings.corpus_dir), "--index", str(rag.settings.index_dir),
                         "ask", "--questions", str(question_file(tmp_path / "cases.jsonl")), "--json"])
    assert code == 0
    printed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [answer["question"] for answer in printed] == [case.question for case in CASES.values()]
    return {name: shape(answer) for name, answer in zip(CASES, printed, strict=True)}


@pytest.fixture(scope="module")
def eval_report(rag: RAG, tmp_path_factory: pytest.TempPathFactory) -> Report:
    path = question_file(tmp_path_factory.mktemp("eval") / "cases.jsonl")
    return evaluate(load_questions(path, rag.documents), rag.ask)


@pytest.fixture(scope="module", params=INTERFACES)
def answers(request: pytest.FixtureRequest, rag: RAG, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every case's answer through one interface, keyed by case name."""
    interface = request.param
    if interface == "library":
        return via_library(rag)
    if interface == "api":
        return via_api(request.getfixturevalue("server"))
    if interface == "chat":
        return via_chat(rag)
    if interface == "cli":
        return via_cli(rag, tmp_path_factory.mktemp("cli"))
    report = request.getfixturevalue("eval_report")
    return {result.question.qid: shape(answer_to_dict(result.answer)) for result in report.results}


def assert_citations_are_exact(answer: dict) -> None:
    assert answer["citations"], answer
    for citation in answer["citations"]:
        assert raw(citation["doc_id"])[citation["start"]:citation["end"]] == citation["text"]


def overlaps(citation: dict, quotes: tuple[tuple[str, str], ...]) -> bool:
    """Whether the cited range overlaps one of the (doc, quote) pieces of the articles."""
    for doc_id, quote in quotes:
        start = raw(doc_id).find(quote)
        assert start >= 0, (doc_id, quote)
        if citation["doc_id"] == doc_id and citation["start"] < start + len(quote) and start < citation["end"]:
            return True
    return False


# --- follow-ups


def test_pronoun_follow_up_cites_what_the_person_of_the_earlier_question_said(answers: dict) -> None:
    # "he" is Li Shangfu, named only in the earlier question.
    answer = answers["pronoun"]

    assert answer["refused"] is False
    assert_citations_are_exact(answer)
    assert any("cold war mentality" in c["text"] for c in answer["citations"]), answer["citations"]
    assert any("cold war mentality" in quote for quote in answer["quotes"])
    assert "cold war mentality" in answer["answer"]


def test_elided_subject_takes_the_earlier_question(answers: dict) -> None:
    # "When?" after "Where is NATO holding its summit?" asks when the summit is.
    answer = answers["elided"]

    assert answer["refused"] is False
    assert_citations_are_exact(answer)
    assert "July" in answer["answer"]
    assert any("July" in c["text"] for c in answer["citations"])


@pytest.mark.parametrize("name", FOLLOW_UPS)
def test_api_answers_a_history_given_without_answers_itself(server: RunningApp, name: str) -> None:
    case = CASES[name]
    with_answers: list[dict] = []
    for earlier in case.history:
        with_answers.append({"question": earlier, "answer": ask_api(server, earlier, with_answers)["answer"]})

    given = shape(ask_api(server, case.question, with_answers))
    questions_only = shape(ask_api(server, case.question, [{"question": q} for q in case.history]))

    assert questions_only == given  # the same answer and citations: the pipeline answered the earlier turn


# --- near misses


@pytest.mark.parametrize("name", ["sweden_when", "india_view", "kistanov_age", "office_staff"])
def test_near_miss_is_refused(answers: dict, name: str) -> None:
    answer = answers[name]

    assert answer["refused"] is True, answer["answer"]
    assert answer["citations"] == []
    if name in EXACT_REFUSALS:
        assert answer["answer"] == EXACT_REFUSALS[name]


@pytest.mark.parametrize(("name", "named"), [
    pytest.param("kistanov_age", ("Kistanov", "how old"), id="kistanov_age"),
    pytest.param("india_view", ("India", "what India"), id="india_view"),
])
def test_near_miss_refusal_names_what_is_missing(answers: dict, name: str, named: tuple[str, ...]) -> None:
    answer = answers[name]

    assert answer["refused"] is True
    assert answer["answer"].endswith(TAIL)
    for words in named:
        assert words in answer["answer"], answer["answer"]


# --- the same subjects, answered


def test_who_holds_up_sweden_is_answered(answers: dict) -> None:
    answer = answers["sweden_blocker"]

    assert answer["refused"] is False
    assert_citations_are_exact(answer)
    assert "Turkey" in answer["answer"] or "Hungary" in answer["answer"]


def test_how_many_members_nato_has_is_answered(answers: dict) -> None:
    answer = answers["nato_members"]

    assert answer["refused"] is False
    assert_citations_are_exact(answer)
    assert "31" in answer["answer"]
    assert any("31 members" in c["text"] for c in answer["citations"])


def test_what_mao_ning_said_is_answered_from_her_words(answers: dict) -> None:
    answer = answers["mao_ning"]

    assert answer["refused"] is False
    assert_citations_are_exact(answer)
    assert any(overlaps(c, MAO_NING_SENTENCES) for c in answer["citations"]), answer["citations"]


# --- eval scores them as a reader would


@pytest.mark.parametrize("name", list(CASES))
def test_eval_scores_the_case_right(eval_report: Report, name: str) -> None:
    case = CASES[name]
    result = next(result for result in eval_report.results if result.question.qid == name)

    assert tuple(turn.question for turn in result.turns) == case.history
    assert result.scores.refusal_accuracy == 1.0, result.answer.text
    if case.answerable:
        assert (result.scores.answer_recall, result.scores.citation_recall) == (1.0, 1.0), result.answer.text


# --- a change of subject after a conversation


def test_a_new_subject_after_a_follow_up_is_answered_on_its_own(rag: RAG) -> None:
    turns: list[Turn] = []
    for earlier in ("Who is Li Shangfu?", "What did he say about the cold war?"):
        turns.append(Turn(earlier, rag.ask(earlier, tuple(turns)).text))
    answer = rag.ask("Where is NATO holding its summit?", turns)

    assert answer.refused is False
    assert "Lithuania" in answer.text or "Vilnius" in answer.text, answer.text


# --- in the real page


@pytest.fixture()
def fresh_chat(server: RunningApp, browser) -> Iterator[Callable[[], object]]:
    """Opens the chat with an empty conversation; each call gives a new page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def open_chat() -> object:
        page = context.new_page()
        page.goto(f"{server.url}/")
        page.wait_for_selector("#rag-question textarea")
        return page

    yield open_chat
    context.close()


def test_follow_ups_in_the_chat_page(fresh_chat) -> None:
    # A pronoun: the page sends its history, so "he" is Li Shangfu.
    page = fresh_chat()
    ask_in_page(page, CASES["pronoun"].history[0])
    reply = ask_in_page(page, CASES["pronoun"].question)
    assert "rag-refused" not in reply.get_attribute("class")
    assert "cold war mentality" in reply.locator(".rag-answer").inner_text()
    assert any("cold war mentality" in quote for quote in reply.locator(".rag-sources mark").all_inner_texts())
    shown = chat_shape(reply.evaluate("el => el.outerHTML"))
    assert_citations_are_exact(shown)
    assert any("cold war mentality" in c["text"] for c in shown["citations"])

    # An elided subject, in a new conversation: "When?" completes the earlier question.
    page = fresh_chat()
    ask_in_page(page, CASES["elided"].history[0])
    reply = ask_in_page(page, CASES["elided"].question)
    assert "rag-refused" not in reply.get_attribute("class")
    assert "July" in reply.locator(".rag-answer").inner_text()
    assert_citations_are_exact(chat_shape(reply.evaluate("el => el.outerHTML")))


def test_a_question_typed_in_lower_case_reads_its_names_as_the_articles_write_them(rag: RAG):
    names = Names({"kashin": "Kashin", "wang": "Wang", "wenbin": "Wenbin", "nato": "NATO", "may": "May"},
                  frozenset({"kashin", "wenbin", "nato"}))
    assert truecased("what will nato do faster, according to kashin?", names) == \
        "what will NATO do faster, according to Kashin?"
    assert truecased("what did wang wenbin claim?", names) == "what did Wang Wenbin claim?"  # beside a name
    assert truecased("is the nato-style office open?", names) == "is the NATO-style office open?"
    assert truecased("What did kashin say?", names) == "What did kashin say?"  # its writer capitalises names
    assert truecased("who may open it?", names) == "who may open it?"  # "may" is a name only written so
    # The articles' own names: ordinary words they happen to capitalise are not distinctive.
    store_names = rag._state.reader.names
    assert {"kashin", "wenbin", "nato"} <= store_names.distinctive
    assert not {"may", "us", "president", "staff", "wang"} & store_names.distinctive
    reading = read_in_conversation("which ministry does he speak for?", [Turn("what did wang wenbin say about asia?")],
                                   store_names)
    assert reading.named == "Wang Wenbin" and reading.question == "which ministry does he speak for?"
    answer = rag.ask("which ministry does he speak for?", history=[Turn("what did wang wenbin say about asia?")])
    assert not answer.refused and "Foreign Ministry" in answer.text
    assert all(rag.documents[c.doc_id].raw[c.start:c.end] == c.text for c in answer.citations)
