"""The benchmark helpers on small inputs; the rows themselves run in `make bench-quick`."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks.context import LABELED_SETS, QUESTION_SETS, question_sets, some_questions
from benchmarks.measure import PYTHON, percentile, run_child
from benchmarks.report import Target, judged, render, reported, write_json
from benchmarks.soak import STEMS, DistinctQuestions, Soak
from benchmarks.soak import row as soak_row
from benchmarks.synthetic import clustered_vectors, write_corpus
from rag.config import PROJECT_ROOT
from rag.evaluation.questions import Question
from rag.ingest.chunking import chunk_documents, split_documents_into_sentences
from rag.ingest.corpus import load_corpus


def test_percentile_is_nearest_rank() -> None:
    samples = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(samples, 50) == 3.0
    assert percentile(samples, 95) == 5.0
    assert percentile([7.0], 50) == 7.0


def test_target_verdicts() -> None:
    assert Target("<=", 1.25).met(1.25)
    assert not Target("<=", 1.25).met(1.26)
    assert Target(">=", 10).met(10)
    assert not Target(">", 1.0).met(1.0)


def test_rows_render_and_write(tmp_path: Path) -> None:
    rows = [judged("answer latency p50", "ask p50 12 ms", "encode 10 ms", 1.2, Target("<=", 1.5), {"n": 1}),
            reported("memory", "700 MB", "500 MB", 1.4, {})]
    table = render(rows, {"cpu": "CPU", "cores": 2, "ram_gib": 24.0, "python": "3.11", "system": "Linux"}, "quick", 1)
    assert "| answer latency p50 | ask p50 12 ms | encode 10 ms | 1.20 | <= 1.5 | yes |" in table
    write_json(tmp_path / "r.json", rows)
    saved = json.loads((tmp_path / "r.json").read_text())
    assert [r["met"] for r in saved] == [True, None]
    assert saved[0]["ratio"] == 1.2 and saved[0]["target"] == "<= 1.5"


def test_generated_corpus_has_one_chunk_per_paragraph(tmp_path: Path) -> None:
    assert write_corpus(PROJECT_ROOT / "corpus", tmp_path, 90) == 90
    documents, skipped = load_corpus(tmp_path)
    chunks = chunk_documents(documents, 700, 100)
    sentences = split_documents_into_sentences(documents)
    assert skipped == [] and len(chunks) == 90
    assert Counter(c.clean for c in chunks) == Counter(s.clean for s in sentences)
    assert all(d.raw[c.start:c.end] == c.text for c in chunks for d in documents if d.doc_id == c.doc_id)


def test_clustered_vectors_are_unit_and_clustered() -> None:
    vectors = clustered_vectors(2_000, 384, seed=1)
    assert vectors.shape == (2_000, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1)
    assert similarity.max(axis=1).mean() > 0.5 > similarity.mean()


def test_run_child_reports_its_own_peak_rss() -> None:
    run = run_child([PYTHON, "-c", "import time; b = b'x' * (200 * 2**20); time.sleep(0.2)"])
    assert run.returncode == 0
    assert 200 < run.peak_rss_mb < 400


def test_every_question_set_is_scored_and_an_absent_one_marked(tmp_path: Path) -> None:
    documents, _ = load_corpus(PROJECT_ROOT / "corpus")
    assert [label for label, _ in QUESTION_SETS] == ["dev", "dev-readers", "own-readers", "tune-readers", "fresh-readers"]
    sets = question_sets(documents, (QUESTION_SETS[2], ("gone", tmp_path / "gone.jsonl")))
    (own, own_path, own_questions), (gone, gone_path, gone_questions) = sets
    assert (own, own_path) == QUESTION_SETS[2] and len(own_questions) >= 30
    assert any(q.history for q in own_questions)
    assert (gone, gone_path, gone_questions) == ("gone", tmp_path / "gone.jsonl", None)


def test_a_quick_sample_keeps_file_order_and_two_follow_ups() -> None:
    questions = tuple(Question(qid=f"q{i}", text=f"question {i}", answers=(), evidence=(), answerable=False,
                               history=("earlier",) if i in (3, 7, 8) else ()) for i in range(10))
    assert [q.qid for q in some_questions(questions, 5)] == ["q0", "q1", "q2", "q3", "q7"]
    assert some_questions(questions, None) == questions
    assert some_questions(questions[:4], 6) == questions[:4]


def test_soak_questions_never_repeat_and_use_the_articles_words() -> None:
    documents, _ = load_corpus(PROJECT_ROOT / "corpus")
    supply = DistinctQuestions(documents)
    asked = [next(supply) for _ in range(20_000)]
    assert len(set(asked)) == len(asked)
    words = {w for d in documents for w in re.findall(r"[A-Za-z][A-Za-z'’-]+", d.raw)} | {"and"}
    for question in asked[:1000]:
        stem = next(stem for stem in STEMS if question.startswith(stem + " "))
        assert question.endswith("?") and set(question[len(stem):-1].split()) <= words, question


def test_soak_row_compares_the_last_minutes_peak_with_the_first_minute() -> None:
    def soak_of(curve: list[float], errors: tuple[str, ...] = ()) -> Soak:
        return Soak(seconds=600, samples=tuple((float(t), mb) for t, mb in enumerate(curve)),
                    latencies_ms=(10.0, 20.0), errors=errors, clients=32)

    level = [500.0] * 60 + [700.0] * 541  # grows in the first minute, then stays
    growing = [500.0] * 60 + [700.0 + t for t in range(541)]  # keeps growing: ends at 1240 MB
    assert soak_of(level).first_minute_mb == 700.0 and soak_of(level).last_minute_peak_mb == 700.0
    assert soak_row(soak_of(level)).met is True
    assert soak_row(soak_of(growing)).ratio == round(1240 / 700, 3) and soak_row(soak_of(growing)).met is False
    failed = soak_row(soak_of(level, errors=("503 on 'q?'",)))
    assert failed.met is False and failed.note.startswith("1 requests failed, first: 503 on 'q?'")


def test_the_learned_rows_cross_validate_the_sets_make_eval_does():
    # benchmarks/learned.py answers each labeled set with a model fitted on the others, as `make eval` does: the
    # two lists of sets must not drift apart.
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    listed = {}
    for name in ("READERS_SETS", "WORDING_SETS", "WIKI_SETS"):
        body = re.search(rf"^{name} := ((?:.*\\\n)*.*)$", makefile, flags=re.MULTILINE).group(1)
        listed[name] = body.replace("\\\n", " ").split()
    in_make = {PROJECT_ROOT / path for paths in listed.values() for path in paths}
    # Every labeled file of tests/data is fitted on and cross-validated: a new set cannot be left out of either.
    data = PROJECT_ROOT / "tests" / "data"
    assert in_make == set(LABELED_SETS) == {*data.glob("*.jsonl"), *data.glob("*/questions.jsonl")}
    assert all(path.is_file() for path in LABELED_SETS)
