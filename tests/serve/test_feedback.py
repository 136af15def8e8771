"""Readers' ratings: the append-only store, POST and GET /api/feedback on a real server, the export."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import httpx
import pytest
from playwright.sync_api import expect

from rag.answer.contract import answer_to_dict
from rag.cli import main
from rag.evaluation.questions import load_question_set
from rag.models.embedding import Embedder
from rag.pipeline import RAG
from rag.schema import QuestionFileError, Turn
from rag.serve.api import create_app
from rag.serve.feedback import FILE_NAME, MAX_COMMENT_CHARS, FeedbackStore, Rating
from rag.serve.feedback_export import export_unhelpful
from rag.serve.ui_ratings import Ratings
from tests.conftest import ARTIFACTS
from tests.servers import RunningApp, ask_in_page, start_app

TOKEN = "ratings-token"
QUESTION = "Who opposed the Tokyo office?"


@pytest.fixture(scope="module")
def answer(rag: RAG) -> dict:
    return answer_to_dict(rag.ask(QUESTION))


@pytest.fixture(scope="module")
def feedback_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feedback")


@pytest.fixture(scope="module")
def feedback_api(rag: RAG, embedder: Embedder, feedback_dir: Path) -> Iterator[RunningApp]:
    """A server with a ratings folder of its own, shared by this file's tests: each finds its ratings by a mark."""
    running = start_app(create_app(RAG(rag.settings.replace(feedback_dir=feedback_dir), embedder)))
    yield running
    running.stop()


def listed(running: RunningApp, mark: str) -> list[dict]:
    """The ratings GET /api/feedback lists whose comment starts with `mark`, newest first."""
    every = httpx.get(f"{running.url}/api/feedback", params={"limit": 200}, timeout=30).json()["ratings"]
    return [r for r in every if r["comment"].startswith(mark)]


def total(running: RunningApp) -> int:
    return httpx.get(f"{running.url}/api/feedback", params={"limit": 1}, timeout=30).json()["total"]


@pytest.fixture(scope="module")
def token_api(rag: RAG, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    settings = rag.settings.replace(api_token=TOKEN, feedback_dir=tmp_path_factory.mktemp("feedback"))
    running = start_app(create_app(RAG(settings, embedder)))
    yield running
    running.stop()


# --- the store


def test_ratings_come_back_newest_first_and_a_rewrite_counts_once(tmp_path: Path, answer: dict) -> None:
    store = FeedbackStore(tmp_path)
    first = store.add(Rating(QUESTION, answer, helpful=True))
    second = store.add(Rating("And Russia?", answer, helpful=False, history=(Turn(QUESTION, answer["answer"]),)))
    commented = store.add(Rating(QUESTION, answer, helpful=True, comment="clear", rating_id=first.rating_id))

    assert [(r.rating_id, r.comment) for r in store.ratings()] == [(first.rating_id, "clear"), (second.rating_id, "")]
    assert store.ratings()[1] == second
    assert commented.time > first.time
    assert len((tmp_path / FILE_NAME).read_text(encoding="utf-8").splitlines()) == 3


def test_a_torn_last_line_loses_no_rating(tmp_path: Path, answer: dict) -> None:
    store = FeedbackStore(tmp_path)
    kept = store.add(Rating(QUESTION, answer, helpful=False, comment="kept"))
    with (tmp_path / FILE_NAME).open("ab") as file:
        file.write(b'{"id": "torn", "question": "Who opp')  # a crash mid-write
    assert store.ratings() == [kept]

    after = store.add(Rating(QUESTION, answer, helpful=True, comment="after"))
    assert store.ratings() == [after, kept]


def test_threads_writing_at_once_never_interleave(tmp_path: Path, answer: dict) -> None:
    store = FeedbackStore(tmp_path)
    start = threading.Barrier(20)

    def rate(n: int) -> None:
        start.wait()
        for i in range(10):
            store.add(Rating(QUESTION, answer, helpful=bool(i % 2), comment=f"{n}-{i}"))

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(rate, range(20)))
    assert sorted(r.comment for r in store.ratings()) == sorted(f"{n}-{i}" for n in range(20) for i in range(10))


# --- the API


def test_fifty_concurrent_ratings_are_all_read_back(feedback_api: RunningApp, answer: dict) -> None:
    start = threading.Barrier(50)
    before = total(feedback_api)

    def rate(n: int) -> httpx.Response:
        body = {"question": QUESTION, "answer": answer, "helpful": n % 2 == 0, "comment": f"burst {n}"}
        start.wait()
        return httpx.post(f"{feedback_api.url}/api/feedback", json=body, timeout=60)

    with ThreadPoolExecutor(50) as pool:
        replies = list(pool.map(rate, range(50)))

    assert [r.status_code for r in replies] == [201] * 50
    assert total(feedback_api) == before + 50
    ratings = listed(feedback_api, "burst ")
    assert sorted(r["comment"] for r in ratings) == sorted(f"burst {n}" for n in range(50))
    times = [r["time"] for r in ratings]
    assert times == sorted(times, reverse=True)
    assert {r["id"] for r in ratings} == {r.json()["id"] for r in replies}


def test_a_rating_is_stored_with_its_time_and_build_and_listed_in_pages(feedback_api: RunningApp, rag: RAG,
                                                                        answer: dict) -> None:
    history = [{"question": "Where would NATO open its first office in Asia?", "answer": "In Tokyo. [1]"}]
    for n in range(3):
        reply = httpx.post(f"{feedback_api.url}/api/feedback", timeout=30, json={
            "question": QUESTION, "history": history, "answer": answer, "helpful": False, "comment": f"no {n}"})
        assert reply.status_code == 201
    stored = reply.json()

    assert stored["build_id"] == rag.manifest["build_id"] and stored["time"].endswith("+00:00")
    assert (stored["question"], stored["history"], stored["answer"], stored["helpful"], stored["comment"]) == (
        QUESTION, history, answer, False, "no 2")
    page = httpx.get(f"{feedback_api.url}/api/feedback", params={"limit": 2, "offset": 1}, timeout=30).json()
    assert (page["total"], page["offset"], page["limit"]) == (total(feedback_api), 1, 2)
    assert [r["comment"] for r in page["ratings"]] == ["no 1", "no 0"]


@pytest.mark.parametrize(("change", "status", "message"), [
    ({"comment": "x" * (MAX_COMMENT_CHARS + 1)}, 400,
     f"the comment has {MAX_COMMENT_CHARS + 1} characters; the limit is {MAX_COMMENT_CHARS}: shorten it to what "
     "was wrong with the answer"),
    ({"answer": None}, 422, "answer: Field required"),
    ({"helpful": "yes"}, 422, "helpful: Input should be a valid boolean"),
    ({"helpful": 1}, 422, "helpful: Input should be a valid boolean"),
    ({"question": " \u200b"}, 400, "the question is empty; type a question about the articles"),
])
def test_bad_ratings_are_refused_with_a_message(feedback_api: RunningApp, answer: dict, change: dict, status: int,
                                                message: str) -> None:
    body = {"question": QUESTION, "answer": answer, "helpful": False, **change}
    body = {name: value for name, value in body.items() if value is not None}
    before = total(feedback_api)

    reply = httpx.post(f"{feedback_api.url}/api/feedback", json=body, timeout=30)

    assert (reply.status_code, reply.json()["error"]) == (status, message)
    assert total(feedback_api) == before


def test_a_made_up_answer_is_refused(feedback_api: RunningApp, answer: dict) -> None:
    citation = {**answer["citations"][0], "n": True}
    body = {"question": QUESTION, "answer": {**answer, "citations": [citation]}, "helpful": False}

    reply = httpx.post(f"{feedback_api.url}/api/feedback", json=body, timeout=30)

    assert (reply.status_code, reply.json()["error"]) == (422, "answer.citations.0.n: Input should be a valid integer")


def test_the_token_guards_the_ratings(token_api: RunningApp, answer: dict) -> None:
    body = {"question": QUESTION, "answer": answer, "helpful": True}
    refused = "missing or wrong API token: send the header 'Authorization: Bearer <token>'"
    headers = {"Authorization": f"Bearer {TOKEN}"}

    assert httpx.get(f"{token_api.url}/api/feedback", timeout=30).json()["error"] == refused
    assert httpx.post(f"{token_api.url}/api/feedback", json=body, timeout=30).status_code == 401
    assert httpx.post(f"{token_api.url}/api/feedback", json=body, headers=headers, timeout=30).status_code == 201
    assert httpx.get(f"{token_api.url}/api/feedback", headers=headers, timeout=30).json()["total"] == 1


def test_stored_lines_are_plain_json(rag: RAG, answer: dict, tmp_path: Path) -> None:
    FeedbackStore(tmp_path).add(Rating(QUESTION, answer, helpful=False, build_id=rag.manifest["build_id"]))
    line = json.loads((tmp_path / FILE_NAME).read_text(encoding="utf-8"))

    assert sorted(line) == ["answer", "build_id", "comment", "helpful", "history", "id", "question", "time"]
    assert Rating.from_json(line) == FeedbackStore(tmp_path).ratings()[0]


# --- from ratings to a question file


def test_export_writes_the_unhelpful_ratings_as_questions_to_label(rag: RAG, answer: dict, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    store = FeedbackStore(tmp_path / "feedback")
    store.add(Rating(QUESTION, answer, helpful=True))
    first = store.add(Rating("Who is Li Shangfu?", answer, helpful=False))
    second = store.add(Rating("What did he say about the cold war?", answer, helpful=False, comment="wrong person",
                              history=(Turn("Who is Li Shangfu?", "…"),)))
    monkeypatch.setenv("RAG_FEEDBACK_DIR", str(tmp_path / "feedback"))
    target = tmp_path / "to-label.jsonl"

    assert main(["feedback", "export", str(target)]) == 0
    assert capsys.readouterr().out == (f"wrote 2 'Not helpful' ratings to {target}: fill in each one's \"evidence\" "
                                       "and \"answers\" (or set \"answerable\": false); rag eval skips those still "
                                       "empty\n")
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [line["question"] for line in lines] == ["Who is Li Shangfu?", "What did he say about the cold war?"]
    assert lines[1] == {
        "id": f"feedback-{second.rating_id[:12]}", "question": "What did he say about the cold war?",
        "history": ["Who is Li Shangfu?"], "answers": [], "evidence": [], "answerable": True,
        "rejected_citations": [{"doc": c["doc_id"], "quote": c["text"], "start": c["start"], "end": c["end"]}
                               for c in answer["citations"]],
        "rejected_answer": answer["answer"], "comment": "wrong person",
        "rating": {"id": second.rating_id, "time": second.time, "build_id": ""}}
    assert all(rag.documents[c["doc"]].raw[c["start"]:c["end"]] == c["quote"] for c in lines[0]["rejected_citations"])
    assert lines[0]["id"] == f"feedback-{first.rating_id[:12]}"

    assert main(["feedback", "export", str(target)]) == 2
    assert capsys.readouterr().err == (f"error: {target} exists already; give a new file name (an export never "
                                       "overwrites labels written into an earlier one)\n")


def test_eval_skips_the_questions_not_labeled_yet(rag: RAG, answer: dict, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    store = FeedbackStore(tmp_path / "feedback")
    ratings = [store.add(Rating(q, answer, helpful=False)) for q in ("Who is Li Shangfu?", QUESTION)]
    monkeypatch.setenv("RAG_FEEDBACK_DIR", str(tmp_path / "feedback"))
    monkeypatch.setenv("RAG_INDEX_DIR", str(rag.settings.index_dir))
    questions = tmp_path / "to-label.jsonl"
    main(["feedback", "export", str(questions)])
    lines = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines()]
    # A person labels the second: the quote that answers it, and the fact.
    lines[1]["answers"] = [["Macron"]]
    lines[1]["evidence"] = [{"doc": answer["citations"][0]["doc_id"], "quote": answer["citations"][0]["text"]}]
    questions.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    capsys.readouterr()

    assert main(["eval", str(questions)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"skipped 1 of 2 questions whose \"evidence\" is not filled in yet: "
                          f"feedback-{ratings[0].rating_id[:12]}\n")
    assert load_question_set(questions, rag.documents).questions[0].text == QUESTION


def test_a_file_with_nothing_labeled_yet_says_so(rag: RAG, answer: dict, tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "feedback")
    store.add(Rating(QUESTION, answer, helpful=False))
    export_unhelpful(store.ratings(), tmp_path / "to-label.jsonl")

    with pytest.raises(QuestionFileError) as raised:
        load_question_set(tmp_path / "to-label.jsonl", rag.documents)
    assert str(raised.value) == (f"{tmp_path / 'to-label.jsonl'} holds no labeled question: all 1 still have empty "
                                 '"answers" and "evidence"; fill them in (or set "answerable": false)')


# --- in the browser


def test_not_helpful_clicked_in_the_chat_is_listed_and_exported(feedback_api: RunningApp, feedback_dir: Path,
                                                                browser, rag: RAG, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    page = browser.new_page()
    page.goto(f"{feedback_api.url}/")
    ask_in_page(page, "Where would NATO open its first office in Asia?")
    reply = ask_in_page(page, QUESTION)
    before = total(feedback_api)
    page.locator("#rag-chat").get_by_role("button", name="Not helpful", exact=True).last.click()
    status = page.locator("#rag-rating-status")
    expect(status).to_have_text('Answer 2 rated "Not helpful". Thank you. You may add a comment below.')
    page.locator("#rag-rating-comment textarea").fill("It should name Macron first.")
    page.locator("#rag-rating-comment textarea").press("Enter")
    expect(status).to_have_text("Comment added to your rating of answer 2. Thank you.")
    page.screenshot(path=str(ARTIFACTS / "chat_rated.png"), full_page=True)

    assert total(feedback_api) == before + 1  # one rating, its comment added to it
    [rating] = listed(feedback_api, "It should name Macron first.")
    shown = rag.ask(QUESTION, [Turn("Where would NATO open its first office in Asia?",
                                    rag.ask("Where would NATO open its first office in Asia?").text)])
    assert (rating["question"], rating["helpful"], rating["comment"]) == (
        QUESTION, False, "It should name Macron first.")
    assert rating["history"][0]["question"] == "Where would NATO open its first office in Asia?"
    assert rating["answer"]["answer"] == shown.text == reply.locator(".rag-answer").inner_text()
    monkeypatch.setenv("RAG_FEEDBACK_DIR", str(feedback_dir))
    assert main(["feedback", "export", str(tmp_path / "to-label.jsonl")]) == 0
    lines = [json.loads(line) for line in (tmp_path / "to-label.jsonl").read_text(encoding="utf-8").splitlines()]
    [exported] = [line for line in lines if line["comment"] == "It should name Macron first."]
    assert (exported["question"], exported["history"], exported["comment"]) == (
        QUESTION, ["Where would NATO open its first office in Asia?"], "It should name Macron first.")
    page.close()


def test_a_rating_the_chat_cannot_store_says_so_and_logs_why(rag: RAG, answer: dict, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "not-a-folder").write_text("", encoding="utf-8")
    ratings = Ratings(rag, FeedbackStore(tmp_path / "not-a-folder"))
    like = gr.LikeData(None, {"index": 1, "value": "…", "liked": "Not helpful"})

    with pytest.raises(gr.Error) as raised:
        ratings.rate([{"role": "user"}, {"role": "assistant"}], [Turn(QUESTION, answer["answer"])], [answer], "", {},
                     like)
    assert raised.value.message == "Your rating could not be stored right now; please try again later."
    assert (f"a rating from the chat was not stored: cannot store the rating in {tmp_path / 'not-a-folder'}"
            in caplog.text)
