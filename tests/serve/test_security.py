"""Cases of issue 6 (reliability and security) that the other test files leave open.

Against real servers on 127.0.0.1 (uvicorn in a thread, sharing the session's
model) and a real `python -m rag serve`: the index folder out of reach of every
route, Gradio's queue bounded and its length check on the server, body caps on
Gradio's routes, internal errors shown without detail, the default bind
address; on disk: nothing in `index/` is ever unpickled, and checksums are
checked before FAISS or NumPy read a file; and `python -m rag index` naming
each odd corpus file it skips. Raw requests go through
`http.client`, which sends a path exactly as written (httpx would resolve `..`).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import pathlib
import time
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import faiss
import httpx
import numpy as np
import pytest

from rag.cli import main
from rag.config import PROJECT_ROOT, Settings
from rag.index.files import current_build
from rag.models.embedding import Embedder
from rag.pipeline import RAG
from rag.schema import IndexCorruptError
from rag.serve.api import create_app
from rag.serve.ui import CONCURRENCY
from tests.conftest import TWO_ARTICLES
from tests.servers import RunningApp, free_port, start_app

HEADLINE = "Who opposed the Tokyo office?"
LIMIT_MESSAGE = ("the question has {n} characters; the limit is 2000 "
                 "(setting max_question_chars, RAG_MAX_QUESTION_CHARS)")
NOT_SERVED = {"error": "not served here: this server accepts no uploads and serves no files through Gradio"}
FIX = "run `python -m rag index --force` to rebuild it"


@pytest.fixture(scope="module", autouse=True)
def no_gradio_client_telemetry() -> Iterator[None]:
    # gradio_client reports to huggingface.co unless this variable says no.
    previous = os.environ.get("GRADIO_ANALYTICS_ENABLED")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    yield
    if previous is None:
        os.environ.pop("GRADIO_ANALYTICS_ENABLED", None)
    else:
        os.environ["GRADIO_ANALYTICS_ENABLED"] = previous


def raw_get(running: RunningApp, path: str) -> tuple[int, str]:
    """GET `path` sent byte for byte as written (no dot-segment or percent normalisation)."""
    parts = urlsplit(running.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", path)
        reply = connection.getresponse()
        return reply.status, reply.read().decode("utf-8", errors="replace")
    finally:
        connection.close()


def gradio_client(running: RunningApp):
    from gradio_client import Client

    return Client(f"{running.url}/", verbose=False, analytics_enabled=False)


def fn_index(running: RunningApp, api_name: str) -> int:
    config = httpx.get(f"{running.url}/config", timeout=30).json()
    return next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)


def join(running: RunningApp, fn: int, data: list, session: str) -> httpx.Response:
    """Join the Gradio queue the way the browser does."""
    return httpx.post(f"{running.url}/gradio_api/queue/join", timeout=30,
                      json={"data": data, "fn_index": fn, "session_hash": session, "event_data": None,
                            "trigger_id": None})


def completed(running: RunningApp, session: str) -> dict:
    """The `process_completed` message of the session's event, read from the queue's event stream."""
    with httpx.stream("GET", f"{running.url}/gradio_api/queue/data", params={"session_hash": session},
                      timeout=60) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError(f"the queue's stream for {session} ended without process_completed")


# --- odd corpus files, as `python -m rag index` reports them


def test_index_names_each_skipped_file_and_builds_from_the_rest(corpus_copy: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for path in corpus_copy.iterdir():  # two good articles among the bad files: a build of two
        if path.name not in TWO_ARTICLES:
            path.unlink()
    outside = tmp_path / "outside.txt"
    outside.write_text("Private notes about the office.", encoding="utf-8")
    (corpus_copy / "empty.txt").write_bytes(b"")
    (corpus_copy / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (corpus_copy / "latin1.txt").write_bytes("Caf\u00e9 in Tokyo.".encode("latin-1"))
    (corpus_copy / "huge.txt").write_bytes(b"NATO office. " * (50 * 1024 * 1024 // 13))
    (corpus_copy / "zzz_copy.txt").write_bytes((corpus_copy / "004_089e00b1afc4a471.txt").read_bytes())
    (corpus_copy / "link.txt").symlink_to(outside)

    # In this process (`python -m rag` itself is run as a child in test_api.py and test_misconfiguration.py).
    code = main(["--corpus", str(corpus_copy), "--index", str(tmp_path / "index"), "index"])
    printed = capsys.readouterr()

    assert code == 0, printed.err
    skipped = sorted(line for line in printed.out.splitlines() if line.startswith("skipped "))
    assert skipped == sorted(f"skipped {corpus_copy / name}: {reason}" for name, reason in [
        ("empty.txt", "empty file"),
        ("binary.txt", "contains NUL bytes: a binary file, not a page"),
        ("latin1.txt", "not UTF-8 (byte 3 is 0xe9); convert it, e.g. iconv -f latin1 -t utf-8"),
        ("huge.txt", f"{50 * 1024 * 1024 // 13 * 13} bytes is over the {20 * 1024 * 1024}-byte limit for one "
                     "article; split it"),
        ("zzz_copy.txt", "same content as 004_089e00b1afc4a471.txt"),
        ("link.txt", "a symlink to a file outside the corpus folder"),
    ])
    assert sum(line.startswith("read    ") for line in printed.out.splitlines()) == 2
    assert json.loads((current_build(tmp_path / "index") / "manifest.json").read_text())["counts"]["documents"] == 2


# --- no pickle, and checksums before parsers


def test_no_file_of_an_index_build_is_a_pickle_or_an_object_array(rag: RAG) -> None:
    build = current_build(rag.settings.index_dir)
    files = sorted(p for p in build.rglob("*") if p.is_file())

    assert {p.relative_to(build).as_posix() for p in files} == {
        "manifest.json", "chunks.faiss", "chunks.jsonl", "sentences.jsonl", "sentences.npy",
        "bm25/data.csc.index.npy", "bm25/indices.csc.index.npy", "bm25/indptr.csc.index.npy",
        "bm25/params.index.json", "bm25/vocab.index.json", "neighbours.json", "documents.jsonl", "words.json",
        "words.npy"}
    for path in files:
        head = path.read_bytes()[:2]
        assert not (head[:1] == b"\x80" and 2 <= head[1] <= 5), f"{path} starts like a pickle"
        if path.suffix == ".npy":
            assert not np.load(path, allow_pickle=False).dtype.hasobject  # raises on an object array
        elif path.suffix == ".jsonl":
            assert all(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))


class _Tripwire:
    """Unpickling this touches a file: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.mark.parametrize("name", ["sentences.npy", "bm25/data.csc.index.npy", "bm25/indices.csc.index.npy",
                                  "bm25/indptr.csc.index.npy"])
def test_a_pickle_planted_in_the_index_is_never_unpickled(built: Settings, embedder: Embedder, tmp_path: Path,
                                                          name: str) -> None:
    # Every NumPy file of a build (the other files are JSON or FAISS, which cannot hold a pickle). The worst
    # case: whoever planted it also rewrote the manifest's checksum to match.
    build = current_build(built.index_dir)
    marker = tmp_path / "unpickled"
    np.save(build / name, np.array([_Tripwire(marker)], dtype=object), allow_pickle=True)
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"][name] = hashlib.sha256((build / name).read_bytes()).hexdigest()
    (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    with pytest.raises(IndexCorruptError) as caught:
        RAG(built, embedder)
    assert str(caught.value).startswith(f"{current_build(built.index_dir)} cannot be read (ValueError: Object arrays "
                                        "cannot be loaded when allow_pickle=False")
    assert not marker.exists()


def test_checksums_are_verified_before_faiss_reads_the_file(built: Settings, embedder: Embedder) -> None:
    vectors = current_build(built.index_dir) / "chunks.faiss"
    vectors.write_bytes(b"IxF2" + b"\xff" * (vectors.stat().st_size - 4))
    # FAISS itself would stop with an error of its own on this file...
    with pytest.raises(RuntimeError, match="faiss"):
        faiss.read_index(str(vectors))

    # ...but ours comes first: FAISS never sees it.
    with pytest.raises(IndexCorruptError) as caught:
        RAG(built, embedder)
    assert str(caught.value) == f"{vectors} fails its checksum (truncated or altered); {FIX}"


# --- the index and other files out of reach of every route


def _index_paths() -> list[tuple[str, int, object]]:
    not_found = {"detail": "Not Found"}
    forbidden = {"detail": "Forbidden"}
    return [
        # Document ids hold slashes (wiki paths): any path under /source/ is looked up as an id, never a file.
        ("/source/..%2f..%2findex%2fCURRENT", 404, "No document ../../index/CURRENT"),
        ("/source/..%2F..%2Findex%2FCURRENT", 404, "No document ../../index/CURRENT"),
        ("/source/%2e%2e%2f%2e%2e%2findex%2fCURRENT", 404, "No document ../../index/CURRENT"),
        ("/source/../../index/CURRENT", 404, "No document ../../index/CURRENT"),
        ("/source/....//....//index/CURRENT", 404, "No document ....//....//index/CURRENT"),
        ("/source/..%252f..%252findex%252fCURRENT", 404, "No document ..%2f..%2findex%2fCURRENT"),
        ("/source/..%5c..%5cindex%5cCURRENT", 404, "No document ..\\..\\index\\CURRENT"),
        ("/api/documents/..%2f..%2findex%2fCURRENT", 404, "no document '../../index/CURRENT'"),
        ("/api/documents/../../index/CURRENT", 404, "no document '../../index/CURRENT'"),
        ("/rag-static/..%2f..%2findex%2fCURRENT", 404, not_found),
        ("/rag-static/../../index/CURRENT", 404, not_found),
        ("/rag-static/%2e%2e/%2e%2e/index/CURRENT", 404, not_found),
        ("/docs-static/..%2f..%2f..%2f..%2f..%2findex%2fCURRENT", 404, not_found),
        ("/widget.js/..%2f..%2findex%2fCURRENT", 404, not_found),
        ("/../index/CURRENT", 404, not_found),
        ("/%2e%2e/index/CURRENT", 404, not_found),
        ("/index/CURRENT", 404, not_found),
        ("/static/../../index/CURRENT", 403, forbidden),
        ("/static/..%2f..%2f..%2f..%2f..%2f..%2findex%2fCURRENT", 403, forbidden),
        ("/assets/..%2f..%2f..%2f..%2f..%2findex%2fCURRENT", 403, forbidden),
        ("/svelte/..%2f..%2f..%2f..%2f..%2f..%2f..%2findex%2fCURRENT", 403, forbidden),
        ("/static/{index}/CURRENT", 403, forbidden),
        ("/static/{project}/index/CURRENT", 403, forbidden),
        ("/gradio_api/file=index/CURRENT", 404, NOT_SERVED),
        ("/gradio_api/file={index}/CURRENT", 404, NOT_SERVED),
        ("/gradio_api/file={index}/builds", 404, NOT_SERVED),
        ("/embed/gradio_api/file=index/CURRENT", 404, NOT_SERVED),
        ("/gradio_api/file/index/CURRENT", 404, NOT_SERVED),
        ("/gradio_api/file/{index}/CURRENT", 404, NOT_SERVED),
    ]


@pytest.mark.parametrize(("path", "status", "body"), _index_paths())
def test_no_route_reaches_the_index(server: RunningApp, rag: RAG, path: str, status: int, body: object) -> None:
    index = str(rag.settings.index_dir)
    path = path.format(index=index, project=PROJECT_ROOT)
    secrets = [current_build(rag.settings.index_dir).name, '"format_version"']
    project_current = PROJECT_ROOT / "index" / "CURRENT"
    if project_current.is_file():
        secrets.append(project_current.read_text(encoding="utf-8").strip())

    got_status, text = raw_get(server, path)

    assert got_status == status
    if isinstance(body, dict):
        assert json.loads(text) == json.loads(json.dumps(body).replace("{index}", index))
    else:
        assert body in text
    assert not any(secret in text for secret in secrets)


# --- Gradio's queue: bounded, no way around it, the question checked on the server


def test_a_full_queue_refuses_more_and_call_is_no_way_around_it(rag: RAG, embedder: Embedder) -> None:
    running = start_app(create_app(RAG(rag.settings.replace(queue_size=2), embedder)))
    try:
        ask = fn_index(running, "ask")
        # Hold the model's encode lock: every answer in progress waits, so events pile up in the queue.
        with embedder._lock:
            joined = [join(running, ask, [HEADLINE], f"s{n}") for n in range(CONCURRENCY + 6)]
            call = httpx.post(f"{running.url}/gradio_api/call/ask", json={"data": [HEADLINE]}, timeout=30)
        accepted = [r for r in joined if r.status_code == 200]
        refused = [r for r in joined if r.status_code != 200]

        assert 2 <= len(accepted) <= CONCURRENCY + 2
        assert refused and all(r.status_code == 503 for r in refused)
        assert {r.json()["detail"] for r in refused} == {"Queue is full. Max size is 2 and size is 2."}
        assert (call.status_code, call.json()) == (503, {"detail": "Queue is full. Max size is 2 and size is 2."})
        # Those accepted are answered once the lock is free.
        answers = [completed(running, f"s{n}") for n, r in enumerate(joined) if r.status_code == 200]
        assert all(a["success"] and a["output"]["data"][0]["citations"] for a in answers)
    finally:
        running.stop()


@pytest.mark.parametrize("path", ["/gradio_api/run/ask", "/gradio_api/api/ask", "/gradio_api/run/add_answer",
                                  "/gradio_api/api/add_answer"])
def test_direct_calls_that_skip_the_queue_are_refused(server: RunningApp, path: str) -> None:
    reply = httpx.post(f"{server.url}{path}", json={"data": [HEADLINE]}, timeout=30)

    assert reply.status_code == 404
    assert reply.json() == {"detail": "This API endpoint does not accept direct HTTP POST requests. "
                                      "Please join the queue to use this API."}


@pytest.mark.parametrize("length", [2001, 100_000])
def test_question_length_is_checked_by_the_server_on_the_queue(server: RunningApp, length: int) -> None:
    from gradio_client.exceptions import AppError

    question = "why " * (length // 4) + "x" * (length % 4)
    client = gradio_client(server)
    try:
        with pytest.raises(AppError) as caught:
            client.predict(question, api_name="/ask")
    finally:
        client.close()
    # The chat's own two events, joined directly: the browser's Textbox(max_length) is not there to stop it.
    session = uuid.uuid4().hex
    shown = join(server, fn_index(server, "add_question"), [question, []], session)
    shown_message = completed(server, session)
    history = shown_message["output"]["data"][1]
    joined = join(server, fn_index(server, "add_answer"), [None, history, None, None], session)
    message = completed(server, session)

    assert str(caught.value) == LIMIT_MESSAGE.format(n=length)
    assert shown.status_code == joined.status_code == 200 and shown_message["success"] is True
    assert message["success"] is False and message["output"]["error"] == LIMIT_MESSAGE.format(n=length)


@pytest.mark.parametrize("question", [
    "Who\x00 opposed\x07 the\x1b Tokyo office?",
    "?!?!...",
    "🙂🙂🙂",
    "東京事務所に反対したのは誰ですか？",
    "<img src=x onerror=alert(1)> **Who** opposed the [Tokyo office](javascript:alert(1))?",
    "office " * 285,
])
def test_odd_questions_over_http_are_answered_in_normal_time(server: RunningApp, question: str) -> None:
    started = time.perf_counter()
    reply = httpx.post(f"{server.url}/api/ask", json={"question": question}, timeout=30)
    seconds = time.perf_counter() - started

    assert reply.status_code == 200
    assert reply.json()["question"] == " ".join(question.replace("\x00", " ").replace("\x07", " ")
                                                .replace("\x1b", " ").split())
    assert seconds < 10


# --- request bodies on Gradio's routes


@pytest.mark.parametrize(("path", "limit"), [
    ("/gradio_api/queue/join", 4 * 1024 * 1024),
    ("/embed/gradio_api/queue/join", 4 * 1024 * 1024),
    ("/gradio_api/component_server", 65536),
    ("/gradio_api/call/ask", 65536),
])
def test_gradio_request_bodies_are_capped(server: RunningApp, path: str, limit: int) -> None:
    body = b'{"data": ["' + b"x" * limit + b'"]}'
    declared = httpx.post(f"{server.url}{path}", content=body, headers={"Content-Type": "application/json"},
                          timeout=60)
    chunked = httpx.post(f"{server.url}{path}", content=iter([body[:10], body[10:]]),
                         headers={"Content-Type": "application/json"}, timeout=60)

    for reply in (declared, chunked):
        assert reply.status_code == 413
        assert reply.json() == {"error": f"the request body is over the {limit}-byte limit (setting max_body_bytes, "
                                         "RAG_MAX_BODY_BYTES); a question may have at most 2000 characters "
                                         "(setting max_question_chars)", "field": "body"}


# --- internal errors: detail in the log, none on the screen


def test_an_internal_error_is_logged_and_shown_without_detail(server: RunningApp,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    # A real failure inside Gradio: /call/v2 expects keyword arguments and raises a TypeError on `data`.
    with caplog.at_level(logging.ERROR, logger="rag.serve.api"):
        reply = httpx.post(f"{server.url}/gradio_api/call/v2/ask", json={"data": [HEADLINE]}, timeout=30)
        # Gradio answers before the error reaches our handler, which logs it a moment later.
        deadline = time.monotonic() + 10
        while not any(r.name == "rag.serve.api" for r in caplog.records) and time.monotonic() < deadline:
            time.sleep(0.05)

    assert reply.status_code == 500
    assert reply.text == "Internal Server Error"
    logged = [r for r in caplog.records if r.name == "rag.serve.api"]
    assert [r.getMessage() for r in logged] == ["internal error on POST /gradio_api/call/v2/ask"]
    assert logged[0].exc_info[0] is TypeError
    assert "Parameter `data` is not a valid key-word argument" in str(logged[0].exc_info[1])


def test_a_failing_answerer_is_logged_and_shown_without_its_address(rag: RAG, embedder: Embedder,
                                                                     caplog: pytest.LogCaptureFixture,
                                                                     capfd: pytest.CaptureFixture[str]) -> None:
    from gradio_client.exceptions import AppError

    # The language model's port is closed: the answerer fails on every question.
    llm_url = f"http://127.0.0.1:{free_port()}/v1"
    settings = rag.settings.replace(answerer="llm", llm_url=llm_url, llm_model="m")
    running = start_app(create_app(RAG(settings, embedder)))
    client = gradio_client(running)
    try:
        with caplog.at_level(logging.ERROR, logger="rag.serve.api"):
            reply = httpx.post(f"{running.url}/api/ask", json={"question": HEADLINE}, timeout=60)
        with pytest.raises(AppError) as caught:
            client.predict(HEADLINE, api_name="/ask")
    finally:
        client.close()
        running.stop()

    assert reply.status_code == 503
    assert reply.json() == {"error": "the service cannot answer right now; the server log says why"}
    assert str(caught.value) == ("The upstream Gradio app has raised an exception but has not enabled verbose "
                                 "error reporting. To enable, set show_error=True in launch().")
    detail = (f"the language model at {llm_url}/chat/completions gave no usable answer (ConnectError); "
              "check that RAG_LLM_URL is an OpenAI-compatible /v1 endpoint")
    assert [r.getMessage() for r in caplog.records if r.name == "rag.serve.api"] == [
        f"cannot answer POST /api/ask: {detail}"]
    assert f"AnswererError: {detail}" in capfd.readouterr().err  # Gradio prints its traceback
    for shown in (reply.text, str(caught.value)):
        assert "127.0.0.1" not in shown and "Traceback" not in shown and "/work" not in shown


# --- server defaults


def test_the_server_binds_to_loopback_unless_configured_otherwise() -> None:
    # What the address means on a real socket, with a real Ctrl-C, is shown by
    # test_api.py::test_app_py_builds_the_index_then_serves_on_loopback_alone_and_stops_on_ctrl_c.
    assert Settings.load(env={}).host == "127.0.0.1"
    assert Settings.load(env={"RAG_HOST": "0.0.0.0"}).host == "0.0.0.0"  # only when configured


def test_the_mounted_chats_have_no_share_link(rag: RAG) -> None:
    app = create_app(rag)
    blocks = [route.app.get_blocks() for route in app.routes if hasattr(getattr(route, "app", None), "get_blocks")]

    assert len(blocks) == 2
    assert all(b.share is False and getattr(b, "share_url", None) is None for b in blocks)


def test_gradio_has_the_published_security_fixes() -> None:
    version = tuple(int(part) for part in metadata.version("gradio").split(".")[:2])
    requirements = (PROJECT_ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()

    assert version >= (6, 20)
    assert "gradio>=6.20,<7" in requirements
