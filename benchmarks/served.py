"""Row "served answers": POST /api/ask on a real server, against `RAG.ask` in process.

The server is `python -m rag serve --port P` on a free 127.0.0.1 port, over
the index this run built, as users start it. One client asks the dev
questions one after another (p50 against the in-process p50); then 16
clients ask at once (throughput against what one process answers serially).
The server's peak RSS (VmHWM, read before it is stopped) is its memory row,
divided by the bare model script's. Until `rag/serve/api/` exists the rows say so.
"""

from __future__ import annotations

import importlib.util
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from benchmarks.context import Context, model_env
from benchmarks.measure import PYTHON, ROOT, child_env, free_port, peak_rss_mb, percentile
from benchmarks.report import Row, Target, judged, reported, skipped

READY_TIMEOUT_S = 180
NAMES = ("served p50, 1 client", "served, 16 clients", "memory: server peak RSS")


def run(ctx: Context, bare_rss_mb: float) -> list[Row]:
    if importlib.util.find_spec("rag.serve.api") is None:
        return [skipped(name, "not available yet: rag/serve/api/ does not exist") for name in NAMES]
    port = free_port()
    log_path = ctx.work / "server.log"
    env = child_env(**model_env(ctx.settings))
    with log_path.open("w") as log:
        server = subprocess.Popen([PYTHON, "-m", "rag", "serve", "--port", str(port)], stdout=log,
                                  stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/api/ask"
    try:
        started = time.perf_counter()
        error = wait_ready(server, url, ctx.questions[0], log_path)
        if error:
            return [Row(name, "-", "-", None, "-", False, {}, error) for name in NAMES]
        ready_s = time.perf_counter() - started
        in_process, one, server_side = _one_client(ctx, url)
        health = _health_ms(url.replace("/api/ask", "/healthz"), len(ctx.questions))
        many, wall = _many_clients(url, ctx.questions, ctx.sizes.served_rounds, ctx.sizes.concurrent_clients)
        rss = peak_rss_mb(server.pid)
    finally:
        stop_server(server)
    clients = ctx.sizes.concurrent_clients
    local_p50 = percentile(in_process, 50)
    local_rate = 1000 / (sum(in_process) / len(in_process))
    rate = len(many) / wall
    figures = {"server_ready_s": round(ready_s, 2), "in_process_p50_ms": round(local_p50, 2),
               "one_client_p50_ms": round(percentile(one, 50), 2), "one_client_p95_ms": round(percentile(one, 95), 2),
               "server_side_ask_p50_ms": round(percentile(server_side, 50), 2),
               # In order: shows whether the first answers after start are slower than the rest.
               "server_side_ask_ms_in_order": [round(ms, 1) for ms in server_side],
               "in_process_ms_in_order": [round(ms, 1) for ms in in_process],
               "healthz_p50_ms": round(percentile(health, 50), 2),
               "clients": clients, "requests": len(many), "throughput_rps": round(rate, 1),
               "many_p50_ms": round(percentile(many, 50), 2), "many_p95_ms": round(percentile(many, 95), 2),
               "in_process_serial_rps": round(local_rate, 1), "server_peak_rss_mb": round(rss, 1),
               "bare_model_peak_rss_mb": round(bare_rss_mb, 1)}
    return [
        judged(NAMES[0], f"POST /api/ask p50 {figures['one_client_p50_ms']:.1f} ms",
               f"in-process ask p50 {local_p50:.1f} ms", figures["one_client_p50_ms"] / local_p50,
               Target("<=", 1.3), figures,
               note=f"inside the server `ask` took p50 {figures['server_side_ask_p50_ms']:.1f} ms "
                    f"(its timings_ms.total); GET /healthz round trip p50 {figures['healthz_p50_ms']:.1f} ms"),
        reported(NAMES[1], f"{rate:.0f} answers/s, p50 {figures['many_p50_ms']:.0f} ms, "
                           f"p95 {figures['many_p95_ms']:.0f} ms",
                 f"in-process serial {local_rate:.0f} answers/s", rate / local_rate, figures,
                 note=f"{clients} concurrent clients; the issue asks for the figure, not a target"),
        reported(NAMES[2], f"{rss:.0f} MB (five-article index)", f"bare model script {bare_rss_mb:.0f} MB",
                 rss / bare_rss_mb, figures),
    ]


def stop_server(server: subprocess.Popen) -> None:
    """Terminate, and kill what does not stop within 15 s: a benchmark never leaves a server behind."""
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def wait_ready(server: subprocess.Popen, url: str, question: str, log_path: Path,
               timeout_s: float = READY_TIMEOUT_S) -> str:
    """"" once the server answers a question, else what went wrong."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            return f"the server exited with {server.returncode}: {_tail(log_path)}"
        try:
            response = httpx.post(url, json={"question": question}, timeout=30)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            return ""
        return f"POST /api/ask answered {response.status_code}: {response.text[:200]}"
    return f"the server did not answer within {timeout_s:g} s: {_tail(log_path)}"


def _tail(path: Path) -> str:
    return " | ".join(path.read_text(errors="replace").strip().splitlines()[-3:])


def _one_client(ctx: Context, url: str) -> tuple[list[float], list[float], list[float]]:
    """ms of `RAG.ask` in this process, of POST /api/ask, and the server's own `timings_ms.total`.

    In process and served alternate question by question, so both meet the same load from elsewhere.
    """
    rag = ctx.rag()
    rag.ask(ctx.questions[0])
    in_process, round_trips, server_side = [], [], []
    with httpx.Client(timeout=60) as client:
        for _ in range(ctx.sizes.served_rounds):
            for question in ctx.questions:
                started = time.perf_counter()
                rag.ask(question)
                in_process.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                response = client.post(url, json={"question": question})
                round_trips.append((time.perf_counter() - started) * 1000)
                _check(response)
                server_side.append(float(response.json()["timings_ms"]["total"]))
    return in_process, round_trips, server_side


def _health_ms(url: str, count: int) -> list[float]:
    samples = []
    with httpx.Client(timeout=60) as client:
        for _ in range(count):
            started = time.perf_counter()
            _check(client.get(url))
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def _many_clients(url: str, questions: tuple[str, ...], rounds: int, clients: int) -> tuple[list[float], float]:
    """Latencies of every request and the wall time, `clients` threads each asking every question `rounds` times."""
    def client_run(offset: int) -> list[float]:
        order = questions[offset % len(questions):] + questions[:offset % len(questions)]
        with httpx.Client(timeout=120) as client:
            return [_post(client, url, q) for _ in range(rounds) for q in order]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client_run, range(clients)))
    return [ms for result in results for ms in result], time.perf_counter() - started


def _post(client: httpx.Client, url: str, question: str) -> float:
    started = time.perf_counter()
    response = client.post(url, json={"question": question})
    elapsed = (time.perf_counter() - started) * 1000
    _check(response)
    return elapsed


def _check(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.method} {response.request.url.path} answered "
                           f"{response.status_code}: {response.text[:200]}")
