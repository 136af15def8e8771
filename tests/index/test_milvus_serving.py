"""The product served from Milvus (RAG_VECTOR_STORE) against a real Milvus Lite gRPC server on 127.0.0.1.

The session's FAISS index is published into one Milvus, once for the module,
as `python -m rag index` does with a Milvus store. Against it: the dev
question files get the FAISS store's answers and citations, compared question
by question in their `--json` reports; two chat servers share the store,
switch together to a published rebuild while under the load test's load
(16 clients, half on the API and half on the Gradio queue); and the store is
stopped, frozen and started again under a serving chat server, which answers
503 with the reason meanwhile and recovers by itself.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rag.cli import answer_json, main
from rag.config import Settings
from rag.evaluation.questions import load_questions
from rag.evaluation.report_file import load_report, write_report
from rag.evaluation.run import evaluate
from rag.index.files import current_build
from rag.index.stores.milvus_chunk_store import MilvusChunkStore
from rag.index.stores.milvus_import import publish_current
from rag.index.stores.milvus_link import CALL_TIMEOUT_S
from rag.models.embedding import Embedder
from rag.pipeline import RAG
from rag.schema import StoreUnavailableError
from rag.serve.api import create_app
from tests.conftest import DATA
from tests.milvus_server import MilvusServer
from tests.serve.test_load import CLIENTS, REQUEST_TIMEOUT_S, questions, span_errors
from tests.servers import RunningApp, free_port, start_app

WATCH_S = 0.5  # the servers' watch interval here (serve() uses 2 s)
SWITCH_DEADLINE_S = 20.0  # a watch interval plus loading the new build, on a machine shared with other runs
RECOVERY_DEADLINE_S = 30.0
LOAD_CLIENTS = CLIENTS  # as the load test: half on /api/ask, half on the Gradio queue, spread over both servers
MAX_LOAD_QUESTIONS = 2_000  # a bound only: the load stops once both servers answered from the new build
ANSWERS_AFTER_SWITCH = 5  # per server


@pytest.fixture(scope="module")
def milvus_settings(milvus: MilvusServer, settings: Settings, rag: RAG) -> Settings:
    """The session's settings with RAG_VECTOR_STORE at the server, its FAISS build published there."""
    served = settings.replace(vector_store=milvus.address)
    assert publish_current(served) is not None
    return served


@pytest.fixture(scope="module")
def milvus_rag(milvus_settings: Settings, embedder: Embedder) -> Iterator[RAG]:
    with RAG(milvus_settings, embedder) as opened:
        yield opened


@pytest.fixture(scope="module")
def two_servers(milvus_settings: Settings, embedder: Embedder) -> Iterator[list[tuple[RunningApp, RAG]]]:
    """Two chat servers over the one store, each with its own RAG, link and watch (as two processes have)."""
    running = []
    for _ in range(2):
        served = RAG(milvus_settings, embedder)
        stop_watch = served.watch(WATCH_S)
        running.append((start_app(create_app(served)), served, stop_watch))
    yield [(app, served) for app, served, _ in running]
    for app, served, stop_watch in running:
        stop_watch.set()
        app.stop()
        served.close()


def test_index_publishes_only_a_new_build(milvus_settings: Settings, milvus_rag: RAG, settings: Settings,
                                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert isinstance(milvus_rag._state.store, MilvusChunkStore)
    assert milvus_rag.manifest["store"]["imported_from"] == current_build(settings.index_dir).name
    assert publish_current(milvus_settings) is None  # Milvus already serves the folder's build
    monkeypatch.setenv("RAG_VECTOR_STORE", milvus_settings.vector_store)
    folders = ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]
    assert main([*folders, "index"]) == 0
    assert f"fresh   {milvus_settings.vector_store} already serves this build" in capsys.readouterr().out
    assert main([*folders, "ask", "--json", "Which countries objected to the liaison office in Japan?"]) == 0
    by_cli = json.loads(capsys.readouterr().out)
    assert by_cli["citations"] and by_cli["citations"] == json.loads(
        answer_json(milvus_rag.ask("Which countries objected to the liaison office in Japan?")))["citations"]


@pytest.mark.parametrize("name", ["dev.jsonl", "dev-readers.jsonl"])
def test_dev_questions_get_the_faiss_citations(name: str, rag: RAG, milvus_rag: RAG, tmp_path: Path) -> None:
    questions_of = load_questions(DATA / name, rag.documents)
    reports = {}
    for store, served in (("faiss", rag), ("milvus", milvus_rag)):
        path = tmp_path / f"{store}.json"
        write_report(path, evaluate(questions_of, served.ask), {"store": store, "questions": name})
        reports[store] = load_report(path)

    def cited(report: dict) -> list[tuple]:
        return [(q["id"], q["answer"]["answer"], q["answer"]["refused"],
                 [(c["doc_id"], c["start"], c["end"], c["text"]) for c in q["answer"]["citations"]],
                 [(p["doc_id"], p["start"], p["end"]) for p in q["answer"]["passages"]])
                for q in report["questions"]]

    assert len(reports["milvus"]["questions"]) == len(questions_of) > 0
    for faiss_row, milvus_row in zip(cited(reports["faiss"]), cited(reports["milvus"]), strict=True):
        assert milvus_row == faiss_row, faiss_row[0]
    quality = [{name: value for name, value in reports[store]["metrics"].items() if "latency" not in name}
               for store in ("faiss", "milvus")]
    assert quality[1] == quality[0]


def test_two_servers_switch_to_a_published_rebuild_under_load(two_servers: list[tuple[RunningApp, RAG]],
                                                               milvus_settings: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # gradio_client's telemetry thread, off
    asked = questions()
    corpus_dir = milvus_settings.corpus_dir
    before = {httpx.get(f"{app.url}/healthz", timeout=30).json()["build_id"] for app, _ in two_servers}
    assert len(before) == 1
    errors: list[str] = []
    answered: list[tuple[str, float]] = []  # (server url, when the answer came back)
    lock = threading.Lock()
    stop = threading.Event()
    by_channel = {"api": 0, "gradio": 0}

    def client(n: int) -> None:
        from gradio_client import Client

        app = two_servers[n % 2][0]
        raw_cache: dict[str, str] = {}
        through_gradio = n % 4 >= 2  # clients 0, 1: API on each server; 2, 3: Gradio on each; and so on
        chat = Client(f"{app.url}/", verbose=False, analytics_enabled=False,
                      httpx_kwargs={"timeout": REQUEST_TIMEOUT_S}) if through_gradio else None
        with httpx.Client(timeout=REQUEST_TIMEOUT_S) as session:
            for i in range(n, MAX_LOAD_QUESTIONS, LOAD_CLIENTS):
                if stop.is_set():
                    break
                question = asked[i % len(asked)]
                try:
                    if chat is not None:
                        error = span_errors(chat.predict(question, api_name="/ask"), question, corpus_dir, raw_cache)
                    else:
                        reply = session.post(f"{app.url}/api/ask", json={"question": question})
                        error = f"HTTP {reply.status_code}: {reply.text[:200]}" if reply.status_code != 200 \
                            else span_errors(reply.json(), question, corpus_dir, raw_cache)
                except Exception as err:  # noqa: BLE001 - any failure of any kind is what the test counts
                    error = f"{type(err).__name__}: {err}"
                with lock:
                    answered.append((app.url, time.monotonic()))
                    by_channel["gradio" if chat is not None else "api"] += 1
                    if error:
                        errors.append(f"{app.url}: {question!r}: {error}")
        if chat is not None:
            chat.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(LOAD_CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        # What `python -m rag index --force` does after its build: a new build in Milvus, published by the alias.
        new_build = publish_current(milvus_settings, force=True)
        published_at = time.monotonic()
        switched: dict[str, float] = {}
        deadline = published_at + SWITCH_DEADLINE_S
        while len(switched) < 2 and time.monotonic() < deadline:
            for app, _ in two_servers:
                if app.url not in switched \
                        and httpx.get(f"{app.url}/healthz", timeout=30).json()["build_id"] == new_build:
                    switched[app.url] = time.monotonic() - published_at
            time.sleep(0.05)
        switch_time = published_at + max(switched.values(), default=0.0)

        def after_switch() -> dict[str, int]:
            with lock:
                return {app.url: sum(url == app.url and when > switch_time for url, when in answered)
                        for app, _ in two_servers}

        deadline = time.monotonic() + SWITCH_DEADLINE_S
        while min(after_switch().values()) < ANSWERS_AFTER_SWITCH and time.monotonic() < deadline \
                and any(thread.is_alive() for thread in threads):
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    print(f"switch after publication: {', '.join(f'{s:.2f} s' for s in switched.values())}; "
          f"{len(answered)} answers, {after_switch()} after the switch")

    assert new_build not in before
    assert len(switched) == 2, f"not every server serves {new_build} within {SWITCH_DEADLINE_S} s: {switched}"
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert min(by_channel.values()) > 0, by_channel  # both ways in carried the load
    assert answered and min(after_switch().values()) >= ANSWERS_AFTER_SWITCH
    assert min(when for _, when in answered) < published_at  # the load ran through the publication


def test_unreachable_at_start_is_one_error_naming_the_uri_and_fix(settings: Settings, embedder: Embedder) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as raised:
        RAG.open(settings.replace(vector_store=address))
    message = str(raised.value)
    assert address in message and "RAG_VECTOR_STORE" in message and "\n" not in message
    assert time.monotonic() - started < 30  # the model load, and a bounded connect


def test_lost_store_answers_503_with_the_reason_and_recovers(two_servers: list[tuple[RunningApp, RAG]],
                                                             milvus: MilvusServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # gradio_client's telemetry thread, off
    app = two_servers[0][0]
    question = "Which countries objected to the liaison office in Japan?"
    answer = httpx.post(f"{app.url}/api/ask", json={"question": question}, timeout=60).json()

    def outage_replies() -> list[httpx.Response]:
        started = time.monotonic()
        replies = [httpx.get(f"{app.url}/healthz", timeout=60),
                   httpx.post(f"{app.url}/api/ask", json={"question": question}, timeout=60),
                   httpx.get(f"{app.url}/api/documents", timeout=60)]
        # Each store call is bounded by the link's timeout: a lost store costs seconds, never a hang.
        assert time.monotonic() - started < 4 * CALL_TIMEOUT_S
        return replies

    milvus.pause()  # frozen: connections stay open and nothing answers
    try:
        health, asked, documents = outage_replies()
    finally:
        milvus.resume()
    assert (health.status_code, asked.status_code, documents.status_code) == (503, 503, 200)
    assert "unavailable" in health.json()["error"] and milvus.address in health.json()["error"]
    assert "unavailable" in asked.json()["error"] and milvus.address in asked.json()["error"]
    _wait_until_answered(app, question)

    milvus.stop()
    try:
        health, asked, documents = outage_replies()
        chat = Client(f"{app.url}/", verbose=False, analytics_enabled=False)
        try:
            with pytest.raises(AppError, match="cannot be searched right now .*Milvus at"):
                chat.predict(question, api_name="/ask")
        finally:
            chat.close()
    finally:
        milvus.start()
    assert (health.status_code, asked.status_code, documents.status_code) == (503, 503, 200)
    assert milvus.address in health.json()["error"] and milvus.address in asked.json()["error"]
    assert _wait_until_answered(app, question)["citations"] == answer["citations"]
    assert httpx.get(f"{app.url}/healthz", timeout=30).status_code == 200
    assert all(thread.is_alive() for thread in threading.enumerate() if thread.name == "index-watch")


def test_an_edited_page_is_embedded_alone_then_served_from_milvus(milvus_settings: Settings, built: Settings,
                                                                   embedder: Embedder, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture) -> None:
    """`python -m rag index` after a wiki edit, with a Milvus store: only the new texts are embedded, the
    new build is published by the alias, and a server reading the alias cites the edit exactly."""
    page = built.corpus_dir / "003_b09e3f5b92ff1bf7.txt"
    added = "The liaison office will keep an archive of 4,321 nautical charts of the Pacific."
    page.write_text(page.read_text(encoding="utf-8") + f"\n{added}\n", encoding="utf-8")
    edited = built.replace(vector_store=milvus_settings.vector_store)
    monkeypatch.setenv("RAG_VECTOR_STORE", milvus_settings.vector_store)
    try:
        assert main(["--corpus", str(edited.corpus_dir), "--index", str(edited.index_dir), "index"]) == 0
        out = capsys.readouterr().out
        counts = re.search(r"embedded ([\d,]*\d) texts, reused ([\d,]*\d)", out).groups()
        embedded, reused = (int(count.replace(",", "")) for count in counts)
        assert 0 < embedded <= 20 < reused  # the new paragraph's chunk, sentence and words, not the corpus
        assert re.search(rf"^published \S+ at {re.escape(milvus_settings.vector_store)}$", out, re.MULTILINE)
        with RAG(edited, embedder) as served:
            assert isinstance(served._state.store, MilvusChunkStore)
            answer = served.ask("How many nautical charts will the liaison office keep?")
        cited = answer.citations[0]
        raw = page.read_text(encoding="utf-8")
        assert cited.doc_id == page.stem and raw[cited.start:cited.end] == cited.text == added
    finally:
        publish_current(milvus_settings, force=True)  # the module's unedited build again, for any later test


def _wait_until_answered(app: RunningApp, question: str) -> dict:
    deadline = time.monotonic() + RECOVERY_DEADLINE_S
    while True:
        reply = httpx.post(f"{app.url}/api/ask", json={"question": question}, timeout=60)
        if reply.status_code == 200:
            return reply.json()
        assert reply.status_code == 503, reply.text
        assert time.monotonic() < deadline, f"still {reply.status_code} after {RECOVERY_DEADLINE_S} s: {reply.text}"
        time.sleep(0.2)
