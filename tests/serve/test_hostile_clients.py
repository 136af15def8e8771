"""Hostile clients: requests made to slip past the body cap, the token or Gradio's queue, or to hold a connection.

Against real servers on 127.0.0.1: the session's (no token), and a `strict`
one over a small wiki whose page names look like Gradio's routes
(`monitoring/alerts`, `howto/uploads`, `gradio/file=notes`), with an API
token and a one-second request deadline. Raw requests go through sockets,
which send headers exactly as written (httpx would not send both
Content-Length and Transfer-Encoding); log lines are read from the loggers
uvicorn and the app write to.
"""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from html import escape
from urllib.parse import urlsplit

import httpx
import pytest

from rag.answer.conversation import MAX_TURNS
from rag.config import Settings
from rag.models.embedding import Embedder
from rag.pipeline import RAG, ensure_index
from rag.schema import Turn
from rag.serve.api import create_app
from rag.serve.api.gradio_gate import COOKIE
from rag.serve.ui import Chat
from tests.servers import RunningApp, ask_in_frame, ask_in_page, start_app

TOKEN = "hostile-token"
DEADLINE_S = 1
PAGES = {"monitoring/alerts.md": "# Alerts\n\nThe liaison office in Tokyo would be NATO's first in Asia.\n",
         "howto/uploads.md": "# Uploads\n\nChina opposed the liaison office in Tokyo.\n",
         "gradio/file=notes.md": "# Notes\n\nFrance doubted the plan for an office in Tokyo.\n"}
NEEDS_TOKEN = {"error": "missing or wrong API token: send the header 'Authorization: Bearer <token>'", "field": None}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def strict(settings: Settings, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """A server over a wiki whose page names hold Gradio's route words, with a token and a 1 s request deadline."""
    root = tmp_path_factory.mktemp("strict")
    for name, text in PAGES.items():
        (root / "wiki" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "wiki" / name).write_text(text, encoding="utf-8")
    wiki = settings.replace(corpus_dir=root / "wiki", index_dir=root / "index", api_token=TOKEN,
                            request_timeout_s=DEADLINE_S)
    ensure_index(wiki, embedder)
    running = start_app(create_app(RAG(wiki, embedder)))
    yield running
    running.stop()


def address(running: RunningApp) -> tuple[str, int]:
    parts = urlsplit(running.url)
    return parts.hostname, parts.port


def raw_exchange(running: RunningApp, head: str, body: bytes = b"", read_timeout_s: float = 10) -> bytes:
    """Send `head` (a request line and headers) and `body` as written; everything the server sends until it
    closes the connection (or `read_timeout_s` passes)."""
    with socket.create_connection(address(running), timeout=read_timeout_s) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        return received


def status_and_json(reply: bytes) -> tuple[int, dict, bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body), head.lower()


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def log_records(*names: str) -> Iterator[list[logging.LogRecord]]:
    """Every record the named loggers handle meanwhile (uvicorn's do not reach pytest's caplog)."""
    handler = _Kept()
    records = handler.records
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


# --- the body cap, whatever the headers say


@pytest.mark.parametrize("path", ["/api/ask", "/gradio_api/queue/join"])
def test_content_length_and_transfer_encoding_together_are_refused_before_the_body(server: RunningApp,
                                                                                    path: str) -> None:
    # Content-Length: 5 and a chunked body: h11 follows the chunks, so 5 bytes once let 200 MB be read (and
    # 6 MB into the chat's 4 MiB queue). The headers alone are answered, and the connection closed.
    head = (f"POST {path} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nContent-Length: 5\n"
            "Transfer-Encoding: chunked\n")
    status, body, headers = status_and_json(raw_exchange(server, head))

    assert status == 400 and b"connection: close" in headers
    assert body == {"error": "the request has both Content-Length and Transfer-Encoding, which disagree on where "
                             "the body ends; send only one of them", "field": "body"}


@pytest.mark.parametrize(("turn", "field", "message"), [
    ({"question": "x" * 2001}, "history.0.question",
     "the question has 2001 characters; the limit is 2000 (setting max_question_chars, RAG_MAX_QUESTION_CHARS)"),
    ({"question": "Who?", "answer": "y" * 10_001}, "history.0.answer", "String should have at most 10000 characters"),
])
def test_an_earlier_turn_is_bounded_as_a_question_is(server: RunningApp, turn: dict, field: str,
                                                     message: str) -> None:
    reply = httpx.post(f"{server.url}/api/ask", json={"question": "And Russia?", "history": [turn]}, timeout=30)

    assert reply.status_code == 422
    assert reply.json()["errors"] == [{"field": field, "message": message}]


# --- Gradio's queue: malformed calls are 4xx and one log line


def test_malformed_queue_calls_get_4xx_and_one_log_line(server: RunningApp) -> None:
    config = httpx.get(f"{server.url}/config", timeout=30).json()
    ask = _fn_of_config(config, "ask")
    events = [d["id"] for d in config["dependencies"]]
    join = f"{server.url}/gradio_api/queue/join"
    calls = [
        ("post", join, {"data": ["Who?"], "fn_index": 99, "session_hash": "abc"}, 422,
         {"error": f"fn_index 99 is no event of this chat (it has {min(events)}-{max(events)}); reload the page",
          "field": "fn_index"}),
        ("post", join, {"data": [], "fn_index": ask, "session_hash": "abc"}, 422,
         {"error": f"data for fn_index {ask} must list 1 input, not 0", "field": "data"}),
        ("post", join, {"data": ["Who?"], "fn_index": ask, "session_hash": ["abc"]}, 422,
         {"error": "session_hash must be text of 1 to 128 characters, not ['abc']", "field": "session_hash"}),
        ("get", f"{server.url}/gradio_api/queue/data?session_hash=no%0Asuch", None, 404,
         {"error": "no event waits for session_hash 'no\\nsuch'; join the queue first "
                   "(POST /gradio_api/queue/join)", "field": "session_hash"}),
        ("post", f"{server.url}/gradio_api/call/nosuch", {"data": []}, 404,
         {"error": "no API endpoint 'nosuch' here (there is: ask)", "field": "api_name"}),
        ("get", f"{server.url}/gradio_api/call/ask/nosuchevent", None, 404,
         {"error": "no event 'nosuchevent' of /ask; POST to /gradio_api/call/ask first, and read its event_id",
          "field": "event_id"}),
    ]
    for method, url, body, status, error in calls:
        with log_records("rag.serve.api", "uvicorn.error") as records:
            reply = httpx.request(method, url, json=body, timeout=30)
            time.sleep(0.2)  # a traceback, if any, is written as the response ends

        assert (reply.status_code, reply.json()) == (status, error), url
        assert [(r.levelname, r.exc_info) for r in records] == [("WARNING", None)], url
        assert "\n" not in records[0].getMessage()


def test_a_question_that_is_no_text_is_told_the_asker_without_a_traceback(server: RunningApp,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = httpx.get(f"{server.url}/config", timeout=30).json()
    session = uuid.uuid4().hex
    joined = httpx.post(f"{server.url}/gradio_api/queue/join", timeout=30,
                        json={"data": [{"question": "Who?"}], "fn_index": _fn_of_config(config, "ask"),
                              "session_hash": session})
    with httpx.stream("GET", f"{server.url}/gradio_api/queue/data", params={"session_hash": session},
                      timeout=60) as stream:
        messages = [json.loads(line[5:]) for line in stream.iter_lines() if line.startswith("data:")]

    assert joined.status_code == 200
    completed = next(m for m in messages if m.get("msg") == "process_completed")
    assert completed["success"] is False and completed["output"]["error"] == "the question must be text, not dict"
    assert "Traceback" not in capsys.readouterr().err  # Gradio printed 28 lines of it for each such call


# --- the token on Gradio's API, the chat page still working


def test_with_a_token_gradio_api_needs_it_and_the_chat_page_gets_a_session_cookie(strict: RunningApp) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    for path in ("/config", "/gradio_api/info", "/embed/config", f"/gradio_api/queue/data?session_hash={uuid.uuid4()}"):
        refused = httpx.get(f"{strict.url}{path}", timeout=30)
        assert (refused.status_code, refused.json()) == (401, NEEDS_TOKEN), path
    with pytest.raises(AuthenticationError, match="as credentials were not provided"):  # its words for the 401
        Client(f"{strict.url}/", verbose=False, analytics_enabled=False)

    answer = Client(f"{strict.url}/", verbose=False, analytics_enabled=False, headers=AUTH).predict(
        "Who opposed the liaison office?", api_name="/ask")
    assert answer["citations"][0]["doc_id"] == "howto/uploads"

    page = httpx.get(f"{strict.url}/", timeout=30)
    cookie = page.cookies[COOKIE]
    assert page.status_code == 200
    assert f"{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict" in page.headers["set-cookie"]
    assert TOKEN not in cookie
    with_cookie = httpx.get(f"{strict.url}/config", cookies={COOKIE: cookie}, timeout=30)
    assert with_cookie.status_code == 200
    # The page's cookie opens the page's own events, not the API endpoint a program calls.
    api = httpx.post(f"{strict.url}/gradio_api/queue/join", cookies={COOKIE: cookie}, timeout=30,
                     json={"data": ["Who?"], "fn_index": _fn_of_config(with_cookie.json(), "ask"),
                           "session_hash": "abc"})
    assert (api.status_code, api.json()) == (401, NEEDS_TOKEN)


def _fn_of_config(config: dict, api_name: str) -> int:
    return next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)


def test_with_a_token_the_chat_still_answers_in_a_browser(strict: RunningApp, browser) -> None:
    page = browser.new_page()
    page.goto(f"{strict.url}/")
    page.wait_for_selector("#rag-question textarea")
    reply = ask_in_page(page, "Who opposed the liaison office?")
    assert reply.locator("a.rag-cite").first.get_attribute("href").startswith("/source/howto/uploads?")
    page.close()
    # The compact chat a wiki frames sets the cookie itself (a new page is a new browser context, no cookie).
    embed = browser.new_page()
    embed.goto(f"{strict.url}/embed/")
    marker = ask_in_frame(embed, "Who doubted the plan?")
    assert marker.get_attribute("href").startswith("/source/gradio/file%3Dnotes?")
    embed.close()


# --- pages named like Gradio's routes


def test_pages_named_like_gradio_routes_are_cited_listed_and_shown(strict: RunningApp) -> None:
    answers = [httpx.post(f"{strict.url}/api/ask", json={"question": question}, headers=AUTH, timeout=60).json()
               for question in ("Who opposed the liaison office?", "Would the office be NATO's first in Asia?",
                                "Who doubted the plan?")]
    cited = {c["doc_id"]: c for answer in answers for c in answer["citations"]}
    documents = httpx.get(f"{strict.url}/api/documents", headers=AUTH, timeout=30).json()

    assert set(cited) == {"howto/uploads", "monitoring/alerts", "gradio/file=notes"}
    assert {d["doc_id"] for d in documents} == set(cited)
    for doc_id, citation in cited.items():
        page = httpx.get(f"{strict.url}{citation['url']}", timeout=30)
        assert page.status_code == 200 and f"<mark>{escape(citation['quote'])}</mark>" in page.text, doc_id
        document = next(d for d in documents if d["doc_id"] == doc_id)
        assert httpx.get(f"{strict.url}{document['source_view']}", timeout=30).status_code == 200
        detail = httpx.get(f"{strict.url}/api/documents/{doc_id}", headers=AUTH, timeout=30)
        assert detail.status_code == 200 and detail.json()["doc_id"] == doc_id
    # Gradio's own routes of those names stay closed.
    for path in ("/monitoring", "/gradio_api/upload", "/gradio_api/file=/etc/passwd", "/embed/gradio_api/upload"):
        assert httpx.get(f"{strict.url}{path}", timeout=30).status_code == 404, path


# --- slow clients


def test_a_body_sent_too_slowly_is_refused_at_the_deadline(strict: RunningApp) -> None:
    head = "POST /api/ask HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nContent-Length: 300\n"
    started = time.perf_counter()
    status, body, headers = status_and_json(raw_exchange(strict, head, b'{"question": "Who'))

    assert status == 408 and b"connection: close" in headers
    assert body == {"error": "the request body did not arrive within 1 s (setting request_timeout_s, "
                             "RAG_REQUEST_TIMEOUT_S); send it whole", "field": "body"}
    assert DEADLINE_S <= time.perf_counter() - started < DEADLINE_S + 5


def test_headers_sent_too_slowly_lose_the_connection_at_the_deadline(strict: RunningApp) -> None:
    started = time.perf_counter()
    with socket.create_connection(address(strict), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        assert sock.recv(1024) == b""  # closed by the server
    assert DEADLINE_S <= time.perf_counter() - started < DEADLINE_S + 5


# --- the chat's own history


def test_the_chat_keeps_at_most_the_turns_the_api_takes(rag: RAG) -> None:
    chat = Chat(rag)
    turns = [Turn(f"Question {n}?", f"Answer {n}.") for n in range(MAX_TURNS)]
    shown = [{"role": role, "content": f"{role} {n}"} for n in range(MAX_TURNS) for role in ("user", "assistant")]

    shown, turns = chat.add_answer("Who opposed the Tokyo office?", [*shown, {"role": "user", "content": "q"}], turns)

    assert len(turns) == MAX_TURNS and turns[0].question == "Question 1?"
    assert turns[-1].question == "Who opposed the Tokyo office?"
    assert len(shown) == 2 * MAX_TURNS and shown[0]["content"] == "user 1" and shown[-2]["content"] == "q"
