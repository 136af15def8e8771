"""The HTTP API against real servers on 127.0.0.1: answers, documents, health, deployment settings.

Each server configuration is started once per module (uvicorn in a thread,
sharing the session's model); `python app.py` and `python -m rag serve` are
run as real subprocesses.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rag.config import PROJECT_ROOT
from rag.index.files import current_build
from rag.models.embedding import Embedder
from rag.pipeline import RAG
from rag.serve.api import create_app
from tests.conftest import TWO_ARTICLES
from tests.servers import RunningApp, free_port, start_app, wait_for

HEADLINE = "Who opposed the Tokyo office?"
TOKEN = "s3cret-token"
WIKI = "http://wiki.example:8080"
API_DOC = PROJECT_ROOT / "docs" / "API.md"


@pytest.fixture(scope="module")
def deployed(rag: RAG, embedder: Embedder) -> Iterator[RunningApp]:
    """A server set up for a wiki: CORS allowlist, frame ancestors, API token."""
    settings = rag.settings.replace(cors_origins=(WIKI,), frame_ancestors=("'self'", WIKI), api_token=TOKEN)
    running = start_app(create_app(RAG(settings, embedder)))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def prefixed(rag: RAG, embedder: Embedder) -> Iterator[RunningApp]:
    """A server under root_path=/qa, as behind a reverse proxy."""
    running = start_app(create_app(RAG(rag.settings.replace(root_path="/qa"), embedder)), root_path="/qa")
    yield running
    running.stop()


def origin(running: RunningApp) -> str:
    parts = urlsplit(running.url)
    return f"{parts.scheme}://{parts.netloc}"


def marked_text(html: str) -> str:
    """The text of every <mark> of a page, joined by spaces (a range can span paragraphs)."""
    return " ".join(unescape(m) for m in re.findall(r"<mark>(.*?)</mark>", html, flags=re.DOTALL))


# --- answers and the source view


def test_headline_question_is_answered_with_citations_whose_url_shows_the_cited_text(server: RunningApp,
                                                                                      rag: RAG) -> None:
    reply = httpx.post(f"{server.url}/api/ask", json={"question": HEADLINE}, timeout=60)

    assert reply.status_code == 200
    answer = reply.json()
    assert answer["question"] == HEADLINE and not answer["refused"]
    assert len(answer["citations"]) >= 2
    for citation in answer["citations"]:
        assert f"[{citation['n']}]" in answer["answer"]
        raw = rag.documents[citation["doc_id"]].raw
        assert raw[citation["start"]:citation["end"]] == citation["text"]
        page = httpx.get(origin(server) + citation["url"], timeout=30)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert f'id="p{citation["paragraph"]}"' in page.text
        assert marked_text(page.text) == citation["quote"]
        query = parse_qs(urlsplit(citation["url"]).query)
        assert (int(query["start"][0]), int(query["end"][0])) == (citation["start"], citation["end"])
        assert urlsplit(citation["url"]).fragment == f"p{citation['paragraph']}"


def test_answer_json_is_the_shared_contract(server: RunningApp, rag: RAG) -> None:
    from rag.answer.contract import answer_to_dict

    # 10.0 is an integer to JSON Schema, so the API takes it as 10.
    answer = httpx.post(f"{server.url}/api/ask", json={"question": HEADLINE, "k": 10.0}, timeout=60).json()
    expected = answer_to_dict(rag.ask(HEADLINE, k=10))

    assert set(answer) == set(expected)
    assert answer["answer"] == expected["answer"]
    assert answer["citations"] == expected["citations"]
    assert [p["chunk_id"] for p in answer["passages"]] == [p["chunk_id"] for p in expected["passages"]]


def test_unanswerable_question_is_refused_with_closest_passages(server: RunningApp) -> None:
    answer = httpx.post(f"{server.url}/api/ask", json={"question": "What is the population of Tokyo?"},
                        timeout=60).json()

    assert answer["refused"] is True
    assert answer["answer"] == "The articles mention Tokyo but don't give the population. The closest passages are listed below."
    assert answer["citations"] == [] and len(answer["passages"]) > 0


def test_follow_up_uses_the_history(server: RunningApp) -> None:
    history = [{"question": "What did China say about the office?"}]
    alone = httpx.post(f"{server.url}/api/ask", json={"question": "And Russia?"}, timeout=60).json()
    followed = httpx.post(f"{server.url}/api/ask", json={"question": "And Russia?", "history": history},
                          timeout=60).json()

    assert not followed["refused"]
    assert any("Russia" in c["quote"] and "office" in c["quote"] for c in followed["citations"])
    assert followed["citations"] != alone["citations"]


def test_source_view_is_the_whole_readable_article(server: RunningApp, rag: RAG) -> None:
    document = rag.documents["000_8a9c36b7067f3b95"]
    page = httpx.get(f"{server.url}/source/{document.doc_id}", timeout=30)

    assert page.status_code == 200
    assert "<mark>" not in page.text
    assert f"<h1>{document.title}</h1>" in page.text
    assert page.text.count('<p id="p') == len(document.body)
    # Boilerplate (the repeated byline, the photo credit) is left out; links keep their words only.
    assert "Written by" not in page.text and "Getty Images" not in page.text
    assert "](#)" not in page.text and "Macron had expressed his opposition" in page.text


@pytest.mark.parametrize(("query", "note"), [
    ("?start=999999&end=1000000", "The highlighted range 999999–1000000 is not in the readable text of this document."),
    ("?start=0&end=30", "The highlighted range 0–30 is not in the readable text of this document."),
])
def test_source_view_says_when_a_range_highlights_nothing(server: RunningApp, query: str, note: str) -> None:
    # 0-30 is the byline at the top of the file: boilerplate, not shown.
    page = httpx.get(f"{server.url}/source/000_8a9c36b7067f3b95{query}", timeout=30)

    assert page.status_code == 200
    assert note in page.text and "<mark>" not in page.text


def test_unknown_article_is_404(server: RunningApp) -> None:
    page = httpx.get(f"{server.url}/source/no_such_article", timeout=30)
    api = httpx.get(f"{server.url}/api/documents/no_such_article", timeout=30)

    assert page.status_code == 404 and "No document no_such_article" in page.text
    assert api.status_code == 404
    assert api.json() == {"error": "no document 'no_such_article'; GET /api/documents lists the 5 there are",
                          "field": "doc_id"}


@pytest.mark.parametrize("doc_id", ["a%0Ab", "line%0A", "%05%18ctl", "tab%09/and%0D%0Aslash"])
def test_an_id_with_line_breaks_or_controls_is_our_own_404(server: RunningApp, doc_id: str) -> None:
    # Found by Schemathesis: such a path matched none of our routes and reached the chat's 404.
    raw = httpx.URL(f"{server.url}/api/documents/{doc_id}")
    api = httpx.get(raw, timeout=30)
    page = httpx.get(f"{server.url}/source/{doc_id}", timeout=30)

    assert api.status_code == 404
    assert api.json()["field"] == "doc_id" and api.json()["error"].startswith("no document ")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "No such document" in page.text


# --- documents and health


def test_documents_lists_the_five_articles(server: RunningApp, rag: RAG) -> None:
    listed = httpx.get(f"{server.url}/api/documents", timeout=30).json()

    assert [d["doc_id"] for d in listed] == sorted(p.stem for p in (PROJECT_ROOT / "corpus").glob("*.txt"))
    for item in listed:
        document = rag.documents[item["doc_id"]]
        assert item["title"] == document.title and item["date"] == document.date
        assert item["paragraph_count"] == len(document.body) > 0
        assert item["source_view"] == f"/source/{document.doc_id}"


def test_document_detail_gives_paragraph_ranges_and_kinds(server: RunningApp, rag: RAG) -> None:
    detail = httpx.get(f"{server.url}/api/documents/001_2937925d5f1f2c3c", timeout=30).json()
    raw = rag.documents["001_2937925d5f1f2c3c"].raw

    kinds = {p["kind"] for p in detail["paragraphs"]}
    assert kinds == {"body", "heading", "boilerplate"}
    assert all(raw[p["start"]:p["end"]] == p["text"] for p in detail["paragraphs"])
    body_numbers = [p["n"] for p in detail["paragraphs"] if p["kind"] == "body"]
    assert body_numbers == list(range(1, detail["paragraph_count"] + 1))


def test_healthz_reports_the_index_in_use(server: RunningApp, rag: RAG) -> None:
    health = httpx.get(f"{server.url}/healthz", timeout=30).json()

    manifest = rag.manifest
    assert health["status"] == "ok" and health["index_loaded"] is True
    assert health["corpus_fingerprint"] == manifest["key"]["corpus_fingerprint"]
    assert health["build_id"] == current_build(rag.settings.index_dir).name
    assert health["model_sha256"] == manifest["model"]["sha256"]
    assert (health["documents"], health["chunks"]) == (5, manifest["counts"]["chunks"])


def test_openapi_declares_the_request_and_response_models(server: RunningApp) -> None:
    schema = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    docs = httpx.get(f"{server.url}/docs", timeout=30)

    ask = schema["paths"]["/api/ask"]["post"]
    assert ask["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/AskRequest")
    assert ask["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/AnswerOut")
    assert {"AskRequest", "AnswerOut", "CitationOut", "DocumentOut", "DocumentDetailOut", "HealthOut",
            "ErrorOut"} <= set(schema["components"]["schemas"])
    # The docs page loads Swagger UI from this server, not from a CDN.
    assert docs.status_code == 200
    assert re.findall(r'(?:src|href)="(https?://[^"]+)"', docs.text) == []


# --- invalid requests


@pytest.mark.parametrize(("body", "status", "field", "error"), [
    ({}, 422, "question", "question: Field required"),
    ({"question": 123}, 422, "question", "question: Input should be a valid string"),
    ({"question": "x", "history": "China"}, 422, "history", "history: Input should be a valid list"),
    ({"question": "x", "history": [{"answer": "y"}]}, 422, "history.0.question", "history.0.question: Field required"),
    ({"question": "x", "k": 0}, 422, "k", "k: Input should be greater than or equal to 1"),
    ({"question": "x", "k": "many"}, 422, "k", "k: Input should be a whole number"),
    # Schema-invalid values pydantic alone would read as numbers (true as 1, "5" as 5).
    ({"question": "x", "k": True}, 422, "k", "k: Input should be a whole number"),
    ({"question": "x", "k": "5"}, 422, "k", "k: Input should be a whole number"),
    ({"question": "x", "k": 2.5}, 422, "k", "k: Input should be a whole number"),
    ({"question": "x", "colour": "red"}, 422, "colour", "colour: Extra inputs are not permitted"),
    ({"question": ""}, 400, "question", "the question is empty; type a question about the articles"),
    ({"question": "   "}, 400, "question", "the question is empty; type a question about the articles"),
    ({"question": "x" * 2001}, 400, "question",
     "the question has 2001 characters; the limit is 2000 (setting max_question_chars, RAG_MAX_QUESTION_CHARS)"),
])
def test_invalid_requests_name_the_field(server: RunningApp, body: dict, status: int, field: str, error: str) -> None:
    reply = httpx.post(f"{server.url}/api/ask", json=body, timeout=30)

    assert reply.status_code == status
    assert reply.json()["field"] == field
    assert reply.json()["error"] == error


def test_malformed_json_is_422(server: RunningApp) -> None:
    reply = httpx.post(f"{server.url}/api/ask", content=b'{"question": ', timeout=30,
                       headers={"Content-Type": "application/json"})

    assert reply.status_code == 422
    assert reply.json()["field"] == "body"
    assert reply.json()["error"].startswith("body: JSON decode error")


def test_a_body_that_is_not_utf8_is_400_naming_the_body(server: RunningApp) -> None:
    reply = httpx.post(f"{server.url}/api/ask", content='{"question": "Zürich?"}'.encode("latin-1"), timeout=30,
                       headers={"Content-Type": "application/json"})

    assert reply.status_code == 400
    assert reply.json() == {"error": 'the request body cannot be read: send UTF-8 JSON, e.g. '
                                     '{"question": "Who objected to the liaison office?"}', "field": "body"}


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("TRACE", "/healthz", "GET"),
    ("DELETE", "/api/ask", "POST"),
    ("PUT", "/api/documents/000_8a9c36b7067f3b95", "GET"),
    ("TRACE", "/source/000_8a9c36b7067f3b95", "GET"),
])
def test_an_undeclared_method_is_405_saying_which_are_served(server: RunningApp, method: str, path: str,
                                                             allowed: str) -> None:
    reply = httpx.request(method, f"{server.url}{path}", timeout=30)

    assert reply.status_code == 405
    assert reply.headers["allow"] == allowed
    assert reply.json() == {"error": f"{method} is not served on {path}; use {allowed}", "field": None}


def test_request_body_is_capped(server: RunningApp) -> None:
    declared = httpx.post(f"{server.url}/api/ask", json={"question": "x" * 70_000}, timeout=30)
    # Without Content-Length (chunked), the bytes are counted as they arrive.
    chunked = httpx.post(f"{server.url}/api/ask", content=iter([b'{"question": "', b"x" * 70_000, b'"}']),
                         headers={"Content-Type": "application/json"}, timeout=30)

    for reply in (declared, chunked):
        assert reply.status_code == 413
        assert reply.json() == {"error": "the request body is over the 65536-byte limit (setting max_body_bytes, "
                                         "RAG_MAX_BODY_BYTES); a question may have at most 2000 characters "
                                         "(setting max_question_chars)", "field": "body"}


# --- deployment settings: CORS, frame ancestors, token, root path


def test_cors_preflight_from_an_allowed_origin_succeeds(deployed: RunningApp) -> None:
    reply = httpx.options(f"{deployed.url}/api/ask", timeout=30, headers={
        "Origin": WIKI, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})

    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == WIKI
    assert "POST" in reply.headers["access-control-allow-methods"]


@pytest.mark.parametrize("host", [None, "qa.intranet.example"])
@pytest.mark.parametrize("path", ["/api/ask", "/gradio_api/queue/join", "/config"])
def test_cors_from_any_other_origin_gets_no_allow_origin(deployed: RunningApp, server: RunningApp, path: str,
                                                         host: str | None) -> None:
    # Stock Gradio echoes any Origin once the Host is not localhost; ours must not.
    headers = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    if host:
        headers["Host"] = host
    for running in (deployed, server):
        preflight = httpx.options(f"{running.url}{path}", headers=headers, timeout=30)
        simple = httpx.get(f"{running.url}{path}", headers={k: v for k, v in headers.items()
                                                             if not k.startswith("Access")}, timeout=30)
        assert "access-control-allow-origin" not in preflight.headers
        assert "access-control-allow-origin" not in simple.headers


def test_frame_ancestors_are_sent_as_configured(deployed: RunningApp, server: RunningApp) -> None:
    def frame_ancestors(url: str) -> str:
        policy = httpx.get(url, timeout=30, follow_redirects=True).headers["content-security-policy"]
        return next(d.strip() for d in policy.split(";") if d.strip().startswith("frame-ancestors"))

    assert frame_ancestors(f"{deployed.url}/embed/") == f"frame-ancestors 'self' {WIKI}"
    assert frame_ancestors(f"{deployed.url}/embed") == f"frame-ancestors 'self' {WIKI}"
    assert frame_ancestors(f"{server.url}/embed/") == "frame-ancestors 'self'"
    for path in ("/", "/source/000_8a9c36b7067f3b95", "/api/documents"):
        assert frame_ancestors(f"{deployed.url}{path}") == "frame-ancestors 'self'"


def test_token_is_required_on_the_api_when_set(deployed: RunningApp) -> None:
    url = f"{deployed.url}/api/ask"
    missing = httpx.post(url, json={"question": HEADLINE}, timeout=60)
    wrong = httpx.post(url, json={"question": HEADLINE}, headers={"Authorization": "Bearer nope"}, timeout=60)
    right = httpx.post(url, json={"question": HEADLINE}, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)

    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json() == {"error": "missing or wrong API token: send the header "
                                           "'Authorization: Bearer <token>'", "field": None}
    assert right.status_code == 200 and right.json()["citations"]
    assert httpx.get(f"{deployed.url}/api/documents", timeout=30).status_code == 401
    # Pages stay open: the token guards the API only.
    assert httpx.get(f"{deployed.url}/healthz", timeout=30).status_code == 200
    assert httpx.get(f"{deployed.url}/source/000_8a9c36b7067f3b95", timeout=30).status_code == 200


def test_root_path_prefixes_every_link(prefixed: RunningApp) -> None:
    answer = httpx.post(f"{prefixed.url}/api/ask", json={"question": HEADLINE}, timeout=60).json()
    documents = httpx.get(f"{prefixed.url}/api/documents", timeout=30).json()
    page = httpx.get(origin(prefixed) + answer["citations"][0]["url"], timeout=30)
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.text).group(1)
    widget = httpx.get(f"{prefixed.url}/widget.js", timeout=30)
    schema_url = re.search(r"url: '([^']+)'", httpx.get(f"{prefixed.url}/docs", timeout=30).text).group(1)

    assert all(c["url"].startswith("/qa/source/") for c in answer["citations"])
    assert all(d["source_view"].startswith("/qa/source/") for d in documents)
    assert page.status_code == 200 and marked_text(page.text) == answer["citations"][0]["quote"]
    assert stylesheet == "/qa/rag-static/source.css"
    assert httpx.get(origin(prefixed) + stylesheet, timeout=30).status_code == 200
    assert widget.status_code == 200 and 'new URL("embed/"' in widget.text
    assert httpx.get(f"{prefixed.url}/embed/", timeout=30).status_code == 200
    assert schema_url == "/qa/openapi.json"
    assert httpx.get(origin(prefixed) + schema_url, timeout=30).status_code == 200
    # A proxy that strips the prefix sends /source/...: the same page.
    stripped = httpx.get(origin(prefixed) + answer["citations"][0]["url"].removeprefix("/qa"), timeout=30)
    assert stripped.status_code == 200 and stylesheet in stripped.text
    # /qa without the slash is sent to /qa/.
    bare = httpx.get(f"{origin(prefixed)}/qa", timeout=30)
    assert bare.status_code == 307 and bare.headers["location"] == "/qa/"


# --- Gradio's own surface


@pytest.mark.parametrize(("path", "status"), [
    ("/gradio_api/file=/etc/passwd", 404),
    ("/file=/etc/passwd", 404),
    ("/gradio_api/file=..%2f..%2f..%2f..%2fetc%2fpasswd", 404),
    # Gradio's own static routes refuse a path outside their folder with 403.
    ("/static//etc/passwd", 403),
    ("/static/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd", 403),
    ("/assets/..%2f..%2f..%2f..%2fetc%2fpasswd", 403),
    ("/rag-static/..%2fapi.py", 404),
    ("/rag-static/..%2f..%2fcorpus%2f000_8a9c36b7067f3b95.txt", 404),
    ("/docs-static/..%2f..%2f..%2f..%2fetc%2fpasswd", 404),
    ("/source/..%2f..%2fetc%2fpasswd", 404),
    ("/source/..%2fcorpus%2f000_8a9c36b7067f3b95", 404),
    ("/embed/gradio_api/file=/etc/passwd", 404),
    ("/monitoring", 404),
    ("/gradio_api/monitoring", 404),
])
def test_path_traversal_and_closed_routes_never_serve_files(server: RunningApp, rag: RAG, path: str,
                                                            status: int) -> None:
    for url in (f"{server.url}{path}", f"{server.url}{path}".replace("/etc/passwd", str(rag.settings.index_dir))):
        reply = httpx.get(url, timeout=30)
        assert reply.status_code == status, url
        assert "root:" not in reply.text and "def create_app" not in reply.text and "Written by" not in reply.text


def test_uploads_are_refused(server: RunningApp) -> None:
    for path in ("/gradio_api/upload", "/embed/gradio_api/upload", "/upload"):
        reply = httpx.post(f"{server.url}{path}", files={"files": ("a.txt", b"hello")}, timeout=30)
        assert reply.status_code == 404
        assert reply.json()["error"].startswith("not served here")


def test_gradio_api_goes_only_through_the_bounded_queue(server: RunningApp, rag: RAG) -> None:
    direct = httpx.post(f"{server.url}/gradio_api/run/ask", json={"data": [HEADLINE]}, timeout=30)
    app = create_app(rag)
    mounted = {route.path: route.app for route in app.routes
               if hasattr(route, "app") and hasattr(route.app, "get_blocks")}

    assert direct.status_code == 404
    assert "does not accept direct HTTP POST requests" in direct.text
    for gradio_app in mounted.values():
        blocks = gradio_app.get_blocks()
        assert blocks.api_open is False
        assert blocks._queue.max_size == rag.settings.queue_size
        assert blocks.enable_monitoring is False
    assert set(mounted) == {"", "/embed"}


# --- Python examples of docs/API.md, run as written (the URL swapped for the test server's)


def _example(name: str) -> str:
    text = API_DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- example: {re.escape(name)} -->\s*```python\n(.*?)```", text, flags=re.DOTALL)
    assert match, f"docs/API.md has no '<!-- example: {name} -->' python block"
    return match.group(1)


@pytest.mark.parametrize("name", ["http", "gradio_client"])
def test_documented_python_examples_run(server: RunningApp, rag: RAG, name: str) -> None:
    code = _example(name).replace("http://127.0.0.1:7860", server.url)
    assert server.url in code
    first = rag.ask(HEADLINE).citations[0]
    citation_line = {"http": f"[{first.n}] {first.title}, paragraph {first.paragraph}: {server.url}{first.url}",
                     "gradio_client": f"{first.n} {first.title} {first.url}"}[name]

    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)

    assert run.returncode == 0, run.stderr
    assert "Macron had expressed his opposition" in run.stdout
    assert citation_line in run.stdout.splitlines()


# --- the real entry points


GRACE_S = 1  # RAG_SHUTDOWN_GRACE_S for the server below: the default 5 s would only make the test wait longer


def test_app_py_builds_the_index_then_serves_on_loopback_alone_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "corpus").mkdir()
    for name in TWO_ARTICLES:  # a first build of two articles says and does what one of five does
        shutil.copy2(PROJECT_ROOT / "corpus" / name, tmp_path / "corpus" / name)
    env = {**os.environ, "RAG_CORPUS_DIR": str(tmp_path / "corpus"), "RAG_INDEX_DIR": str(tmp_path / "index"),
           "RAG_PORT": str(port), "PYTHONUNBUFFERED": "1", "RAG_SHUTDOWN_GRACE_S": str(GRACE_S)}
    env.pop("RAG_HOST", None)
    process = subprocess.Popen([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    connected_when_said: list[bool] = []

    def read() -> None:
        for line in process.stdout:
            if line.startswith("serving ") and not connected_when_said:
                connected_when_said.append(_accepts(port))  # at once: the line may come only once it listens
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", timeout_s=120)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).json()
        chat = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
        addresses = _listening_addresses(port)
        # An open chat tab's heartbeat stream, which never ends on its own.
        opened = threading.Event()
        tab = threading.Thread(target=_hold_heartbeat, args=(f"http://127.0.0.1:{port}", opened), daemon=True)
        tab.start()
        assert opened.wait(30), "the heartbeat stream did not open"
    finally:
        process.send_signal(signal.SIGINT)
        stopping = time.monotonic()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()  # it would not stop: the assertion below says so
            process.wait()
        reader.join(timeout=10)
    stopped_in = time.monotonic() - stopping
    output = "".join(lines)

    assert health["documents"] == 2
    assert chat.status_code == 200 and "gradio" in chat.text.lower()
    assert "rebuilding: " in output  # the first start built the index and said so
    assert f"serving 2 articles at http://127.0.0.1:{port}/" in output and connected_when_said == [True]
    assert ("the chat may be embedded (/embed/, /widget.js) in this server's own pages only (RAG_FRAME_ANCESTORS); "
            "to embed it in a wiki, start the server with the wiki's origin added, e.g. "
            "RAG_FRAME_ANCESTORS=\"'self',https://wiki.example\"") in output
    assert addresses == {"127.0.0.1"}  # RAG_HOST unset: loopback only
    assert "gradio.live" not in output and "share" not in output.lower() and "public url" not in output.lower()
    assert stopped_in < GRACE_S + 5, output  # Ctrl-C stops it although a tab is open


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket in LISTEN state on `port`, from /proc/net/tcp and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                if len(address) == 8:
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
                else:
                    found.add(f"ipv6:{address}")
    return found


def _hold_heartbeat(url: str, opened: threading.Event) -> None:
    try:
        with httpx.stream("GET", f"{url}/gradio_api/heartbeat/open-tab", timeout=60) as stream:
            opened.set()  # the response has begun: the server holds the stream open
            for _ in stream.iter_bytes():
                pass
    except httpx.HTTPError:
        pass  # the server went away: what stopping it does


def test_serve_refuses_an_empty_corpus(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()
    env = {**os.environ, "RAG_CORPUS_DIR": str(tmp_path / "corpus"), "RAG_INDEX_DIR": str(tmp_path / "index"),
           "RAG_PORT": str(free_port())}

    run = subprocess.run([sys.executable, "-m", "rag", "serve"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                         text=True, timeout=120)

    assert run.returncode == 2
    assert f"error: no readable page in {tmp_path / 'corpus'} (0 skipped)" in run.stderr
    assert "serving" not in run.stdout
