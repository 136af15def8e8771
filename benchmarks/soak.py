"""Row "soak": a real server under 32 clients asking distinct questions for 10 minutes; its memory must level off.

The server is `python -m rag serve` on a free 127.0.0.1 port, as in
`served.py`. Every request asks a question no other request asked (built
from the articles' own sentences, `distinct_questions`), so a cache keyed by
question text, or anything else that keeps something per question, shows up
as growth. The server's resident set (VmRSS) is sampled every second: the
value one minute in is the floor, the highest value of the last minute the
measured figure; the row passes when that is at most 1.15 times the floor.
The first minute is left out because model warm-up, thread pools and
allocator arenas fill then and are not a leak.

Only `make bench` runs it (ten minutes); `make bench-quick` does not.
`python -m benchmarks.soak --seconds 120` runs the row alone against the
project's `index/`, to look at a change without the whole bench.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.context import Context, model_env
from benchmarks.measure import PYTHON, ROOT, child_env, free_port, percentile, rss_mb
from benchmarks.onnx_path import memory_floor_mb
from benchmarks.report import Row, Target, judged
from benchmarks.served import stop_server, wait_ready
from rag.config import Settings
from rag.ingest.corpus import load_corpus
from rag.schema import Document

NAME = "soak: server RSS, last minute / first minute"
SOAK_SECONDS = 600
CLIENTS = 32
SETTLE_SECONDS = 60  # the floor is read this long after the load starts
SAMPLE_EVERY_S = 1.0
REQUEST_TIMEOUT_S = 120
READY_TIMEOUT_S = 600  # a start on a machine busy with other work can take minutes; the soak has time
TARGET = Target("<=", 1.15)
FLOOR_NAME = "soak: server RSS, last minute / bare serving floor"
FLOOR_TARGET = Target("<=", 1.4)
STEMS = ("What did the articles say about", "Who mentioned", "Why did they write about", "When was there news of",
         "Where do the reports place", "How many times did they discuss", "What about", "Is it true that")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]+")


class DistinctQuestions:
    """An endless, thread-safe supply of questions, no two alike, made of the articles' words."""

    def __init__(self, documents: Sequence[Document], seed: int = 0) -> None:
        self._sentences = [words for d in documents for p in d.paragraphs if p.kind == "body"
                           if len(words := _WORD.findall(p.text)) >= 4]
        if not self._sentences:
            raise ValueError("the corpus has no body paragraph of four words or more to make questions from")
        self._random = random.Random(seed)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        with self._lock:
            while True:
                question = self._make()
                if question not in self._seen:
                    self._seen.add(question)
                    return question

    def _make(self) -> str:
        pick = self._random
        parts = []
        for _ in range(pick.choice((1, 1, 2))):  # a window of one sentence, sometimes of two
            words = pick.choice(self._sentences)
            length = pick.randint(2, min(6, len(words)))
            start = pick.randrange(len(words) - length + 1)
            parts.append(" ".join(words[start:start + length]))
        return f"{pick.choice(STEMS)} {' and '.join(parts)}?"


@dataclass(frozen=True)
class Soak:
    seconds: float
    samples: tuple[tuple[float, float], ...]  # (seconds since the load started, VmRSS MB)
    latencies_ms: tuple[float, ...]
    errors: tuple[str, ...]  # one line per failed request
    clients: int
    settle_s: float = SETTLE_SECONDS

    @property
    def first_minute_mb(self) -> float:
        return next(mb for t, mb in self.samples if t >= self.settle_s)

    @property
    def last_minute_peak_mb(self) -> float:
        return max(mb for t, mb in self.samples if t >= self.seconds - self.settle_s)

    def rss_each_minute(self) -> list[float]:
        """VmRSS at each whole minute of the run (the first sample at or after it), for the figures."""
        marks = []
        for minute in range(1, int(self.seconds // 60) + 1):
            later = [mb for t, mb in self.samples if t >= minute * 60]
            if later:
                marks.append(round(later[0], 1))
        return marks


def run(ctx: Context) -> list[Row]:
    documents, _ = load_corpus(ctx.settings.corpus_dir)
    floor = memory_floor_mb(ctx.settings)
    result = soak(ctx.settings, documents, ctx.work / "soak-server.log")
    return [row(result), floor_row(result, floor)]


def floor_row(result: Soak, floor_mb: float) -> Row:
    """The last minute's peak against a bare process holding what serving needs (`onnx_path.memory_floor_mb`)."""
    peak = result.last_minute_peak_mb
    figures = {"last_minute_peak_rss_mb": round(peak, 1), "floor_rss_mb": round(floor_mb, 1),
               "first_minute_rss_mb": round(result.first_minute_mb, 1)}
    return judged(FLOOR_NAME, f"peak RSS in the last minute {peak:.0f} MB",
                  f"bare process: web stack, FAISS, ONNX Runtime, same graph and index {floor_mb:.0f} MB",
                  peak / floor_mb, FLOOR_TARGET, figures)


def row(result: Soak) -> Row:
    first, peak = result.first_minute_mb, result.last_minute_peak_mb
    rate = len(result.latencies_ms) / result.seconds
    figures = {"seconds": round(result.seconds), "clients": result.clients, "requests": len(result.latencies_ms),
               "distinct_questions": len(result.latencies_ms) + len(result.errors),
               "answers_per_s": round(rate, 1), "p50_ms": round(percentile(result.latencies_ms, 50), 1),
               "p95_ms": round(percentile(result.latencies_ms, 95), 1), "errors": len(result.errors),
               "first_minute_rss_mb": round(first, 1), "last_minute_peak_rss_mb": round(peak, 1),
               "rss_mb_each_minute": result.rss_each_minute(), "first_errors": list(result.errors[:5])}
    minutes = ", ".join(f"{mb:.0f}" for mb in figures["rss_mb_each_minute"])
    note = (f"{result.clients} clients, {len(result.latencies_ms):,} distinct questions in "
            f"{result.seconds / 60:.0f} min ({rate:.0f}/s); RSS each minute (MB): {minutes}")
    verdict = judged(NAME, f"peak RSS in the last minute {peak:.0f} MB", f"RSS after the first minute {first:.0f} MB",
                     peak / first, TARGET, figures, note=note)
    if result.errors:
        # Memory that levels off because requests failed is not a pass.
        return Row(verdict.name, verdict.measured, verdict.floor, verdict.ratio, verdict.target, False, figures,
                   f"{len(result.errors)} requests failed, first: {result.errors[0]}; {note}")
    return verdict


def soak(settings: Settings, documents: Sequence[Document], log_path: Path, seconds: float = SOAK_SECONDS,
         clients: int = CLIENTS) -> Soak:
    """Start a server over `settings`' index, load it for `seconds`, stop it; what was measured."""
    port = free_port()
    with log_path.open("w") as log:
        server = subprocess.Popen([PYTHON, "-m", "rag", "serve", "--port", str(port)], stdout=log,
                                  stderr=subprocess.STDOUT, env=child_env(**model_env(settings)), cwd=ROOT)
    url = f"http://127.0.0.1:{port}/api/ask"
    questions = DistinctQuestions(documents)
    try:
        error = wait_ready(server, url, next(questions), log_path, READY_TIMEOUT_S)
        if error:
            raise RuntimeError(f"soak: {error}")
        return _load(server.pid, url, questions, seconds, clients)
    finally:
        stop_server(server)


def _load(pid: int, url: str, questions: DistinctQuestions, seconds: float, clients: int) -> Soak:
    started = time.monotonic()
    deadline = started + seconds
    done = threading.Event()
    samples: list[tuple[float, float]] = []

    def sample() -> None:
        while not done.wait(SAMPLE_EVERY_S):
            samples.append((time.monotonic() - started, rss_mb(pid)))

    def client(_: int) -> tuple[list[float], list[str]]:
        latencies, errors = [], []
        with httpx.Client(timeout=REQUEST_TIMEOUT_S) as http:
            while time.monotonic() < deadline:
                question = next(questions)
                began = time.perf_counter()
                try:
                    response = http.post(url, json={"question": question})
                except httpx.HTTPError as err:
                    errors.append(f"{type(err).__name__} on {question!r}")
                    continue
                if response.status_code == 200:
                    latencies.append((time.perf_counter() - began) * 1000)
                else:
                    errors.append(f"{response.status_code} on {question!r}: {response.text[:120]}")
        return latencies, errors

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(client, range(clients)))
    finally:
        done.set()
        sampler.join()
    elapsed = time.monotonic() - started
    return Soak(seconds=elapsed, samples=tuple(samples),
                latencies_ms=tuple(ms for latencies, _ in results for ms in latencies),
                errors=tuple(e for _, errors in results for e in errors), clients=clients,
                settle_s=min(SETTLE_SECONDS, elapsed / 4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SOAK_SECONDS, help="how long to load the server")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent clients")
    args = parser.parse_args(argv)
    settings = Settings.load()
    documents, _ = load_corpus(settings.corpus_dir)
    floor = memory_floor_mb(settings)
    result = soak(settings, documents, Path("/tmp") / f"soak-server-{int(time.time())}.log", args.seconds,
                  args.clients)
    for verdict in (row(result), floor_row(result, floor)):
        print(f"{verdict.name}: {verdict.measured} / {verdict.floor} = {verdict.ratio:.3f} "
              f"(target {verdict.target}): {'met' if verdict.met else 'MISSED'}\n{verdict.note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
