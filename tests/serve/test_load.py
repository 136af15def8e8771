"""Concurrent users: 16 clients, 400 questions, a rebuild half-way, against a real server on 127.0.0.1.

Half the clients post to `/api/ask`, half go through the Gradio queue with
`gradio_client` (the chat's public `ask` endpoint), each with its own
connection, all at once. When a quarter of the answers are in, the index is
rebuilt in its folder (`ensure_index(force=True)`, as `python -m rag index
--force` beside a server does) and the server swaps it in with `RAG.reload()`,
the call `RAG.watch()` makes in `serve()`. Every answer must arrive, answer the
question asked, and cite spans that are exact in the article files.

Bounded: a fixed count of questions, a timeout on each request and on the
whole run; loopback only. Latency (p50/p95 per channel) and throughput are
printed, recorded as test properties (`pytest -rA` shows them) and written
to tests/artifacts/load.json.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rag.config import Settings
from rag.models.embedding import Embedder
from rag.pipeline import RAG, ensure_index
from rag.serve.api import create_app
from tests.conftest import ARTIFACTS, DATA
from tests.servers import RunningApp, start_app

CLIENTS = 16  # half on /api/ask, half on the Gradio queue
QUESTIONS = 400
REBUILD_AFTER = 100  # answers in before the rebuild starts
REQUEST_TIMEOUT_S = 90.0
RUN_TIMEOUT_S = 150.0  # the whole run; CI allows 3 minutes for this test


@dataclass(frozen=True)
class Result:
    channel: str  # "api" or "gradio"
    question: str
    seconds: float
    finished: float  # time.monotonic() when the answer came back
    error: str  # empty when the answer was complete and every span exact


@pytest.fixture(scope="module")
def load_server(settings: Settings, embedder: Embedder, rag: RAG,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, RAG]]:
    """A server over a copy of the session's index, so its rebuild leaves other tests' index alone."""
    index_dir = tmp_path_factory.mktemp("load") / "index"
    shutil.copytree(settings.index_dir, index_dir)
    served = RAG(settings.replace(index_dir=index_dir), embedder)
    running = start_app(create_app(served))
    yield running, served
    running.stop()


def questions() -> list[str]:
    rows = [json.loads(line) for name in ("dev.jsonl", "heldout.jsonl")
            for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row["question"] for row in rows]


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def span_errors(answer: dict, question: str, corpus_dir: Path, raw_cache: dict[str, str]) -> str:
    """What is wrong with one answer's JSON ("" when nothing is)."""
    if answer.get("question") != question:
        return f"answered {answer.get('question')!r} instead"
    if answer["refused"] != (answer["citations"] == []):
        return "a refusal with citations, or an answer without"
    for unit in [*answer["citations"], *answer["passages"]]:
        doc_id = unit["doc_id"]
        if doc_id not in raw_cache:
            raw_cache[doc_id] = (corpus_dir / f"{doc_id}.txt").read_bytes().decode("utf-8")
        if raw_cache[doc_id][unit["start"]:unit["end"]] != unit["text"]:
            return f"{doc_id}[{unit['start']}:{unit['end']}] is not the text it quotes"
    return ""


def test_sixteen_clients_and_a_rebuild_give_no_errors(load_server: tuple[RunningApp, RAG], record_property,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from gradio_client import Client

    server, served = load_server
    # gradio_client starts a telemetry thread (to huggingface.co) unless the variable says no.
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    asked = questions()
    corpus_dir = served.settings.corpus_dir
    results: list[Result] = []
    lock = threading.Lock()
    rebuild_now = threading.Event()
    swapped = threading.Event()
    build_before = httpx.get(f"{server.url}/healthz", timeout=30).json()["build_id"]
    swapped_at: list[float] = []
    rebuild_errors: list[str] = []

    def record(result: Result) -> None:
        with lock:
            results.append(result)
            if len(results) >= REBUILD_AFTER:
                rebuild_now.set()

    def api_caller() -> Callable[[str], dict]:
        session = httpx.Client(timeout=REQUEST_TIMEOUT_S)

        def call(question: str) -> dict:
            reply = session.post(f"{server.url}/api/ask", json={"question": question})
            if reply.status_code != 200:
                raise RuntimeError(f"HTTP {reply.status_code}: {reply.text[:200]}")
            return reply.json()
        return call

    gradio_clients = [Client(f"{server.url}/", verbose=False, analytics_enabled=False,
                             httpx_kwargs={"timeout": REQUEST_TIMEOUT_S}) for _ in range(CLIENTS // 2)]

    def gradio_caller(n: int) -> Callable[[str], dict]:
        client = gradio_clients[n]
        return lambda question: client.predict(question, api_name="/ask")

    def worker(n: int) -> None:
        channel = "api" if n % 2 == 0 else "gradio"
        call = api_caller() if channel == "api" else gradio_caller(n // 2)
        raw_cache: dict[str, str] = {}
        mine = range(n, QUESTIONS, CLIENTS)
        for j, i in enumerate(mine):
            if j == len(mine) * 3 // 4:
                # The last quarter waits for the swap: a rebuild slower than the load still gets asked.
                swapped.wait(RUN_TIMEOUT_S)
            question = asked[i % len(asked)]
            started = time.perf_counter()
            try:
                error = span_errors(call(question), question, corpus_dir, raw_cache)
            except Exception as err:  # noqa: BLE001 - any failure of any kind is what the test counts
                error = f"{type(err).__name__}: {err}"
            record(Result(channel, question, time.perf_counter() - started, time.monotonic(), error))

    def rebuild() -> None:
        try:
            if not rebuild_now.wait(RUN_TIMEOUT_S):
                return
            ensure_index(served.settings, served.embedder, force=True)
            if served.reload():  # what the watcher started by `serve()` does within 2 s
                swapped_at.append(time.monotonic())
        except Exception as err:  # noqa: BLE001
            rebuild_errors.append(f"{type(err).__name__}: {err}")
        finally:
            swapped.set()

    threads = [threading.Thread(target=worker, args=(n,), name=f"load-{n}", daemon=True) for n in range(CLIENTS)]
    rebuilder = threading.Thread(target=rebuild, name="load-rebuild", daemon=True)
    started = time.monotonic()
    for thread in [rebuilder, *threads]:
        thread.start()
    try:
        for thread in [*threads, rebuilder]:
            thread.join(timeout=max(0.0, started + RUN_TIMEOUT_S - time.monotonic()))
        wall = time.monotonic() - started
        hung = [thread.name for thread in [*threads, rebuilder] if thread.is_alive()]
    finally:
        for client in gradio_clients:
            client.close()
    assert hung == [], f"still running after {RUN_TIMEOUT_S:g} s: {hung}"

    latencies = {channel: [r.seconds for r in results if r.channel == channel] for channel in ("api", "gradio")}
    all_latencies = latencies["api"] + latencies["gradio"]
    build_after = httpx.get(f"{server.url}/healthz", timeout=30).json()["build_id"]
    summary = {
        "clients": CLIENTS, "questions": len(results), "errors": sum(bool(r.error) for r in results),
        "wall_s": round(wall, 2), "throughput_qps": round(len(results) / wall, 2),
        "p50_ms": round(percentile(all_latencies, 0.50) * 1000, 1),
        "p95_ms": round(percentile(all_latencies, 0.95) * 1000, 1),
        "max_ms": round(max(all_latencies) * 1000, 1),
        **{f"{channel}_{name}_ms": round(percentile(values, share) * 1000, 1)
           for channel, values in latencies.items() for name, share in (("p50", 0.50), ("p95", 0.95))},
        "answers_after_swap": sum(r.finished > swapped_at[0] for r in results) if swapped_at else 0,
        "build_before": build_before, "build_after": build_after,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for name, value in summary.items():
        record_property(name, value)
    print("load test: " + ", ".join(f"{name}={value}" for name, value in summary.items()))

    assert [f"{r.channel}: {r.question!r}: {r.error}" for r in results if r.error] == []
    assert rebuild_errors == []
    assert len(results) == QUESTIONS
    assert (len(latencies["api"]), len(latencies["gradio"])) == (QUESTIONS // 2, QUESTIONS // 2)
    assert swapped_at, "the rebuilt index was never swapped in"
    assert build_after == served.manifest["build_id"] != build_before
    assert summary["answers_after_swap"] > 0  # the new index answered too, not only the old one
