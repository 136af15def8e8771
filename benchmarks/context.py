"""What every row shares: sizes of the run, the warm model, the built five-article index.

Built once by `run.py`: the bench works in its own temporary folder (the
project's `index/` is never touched) and loads the model in use (the
default `Settings.model`) once, both as the project's `Embedder` and as a
bare `SentenceTransformer` that the floors use, so a floor never runs
through project code. The question sets the quality rows score live here
too, all of them in `tests/data/`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.answer.retrieval import search_on_one_thread
from rag.config import PROJECT_ROOT, Settings
from rag.evaluation.questions import Question, load_questions
from rag.models.embedding import Embedder, resolve_model_path
from rag.pipeline import RAG, ensure_index, load_embedder
from rag.schema import Document

DEV_QUESTIONS = PROJECT_ROOT / "tests" / "data" / "dev.jsonl"
# Every question file the quality and peer rows score, by the label the table gives it.
QUESTION_SETS = (("dev", DEV_QUESTIONS),
                 ("dev-readers", PROJECT_ROOT / "tests" / "data" / "dev-readers.jsonl"),
                 ("own-readers", PROJECT_ROOT / "tests" / "data" / "own-readers.jsonl"),
                 ("tune-readers", PROJECT_ROOT / "tests" / "data" / "tune-readers.jsonl"),
                 ("fresh-readers", PROJECT_ROOT / "tests" / "data" / "fresh-readers.jsonl"))
# Every labeled set, as `make eval` cross-validates them: the learned answerer's rows answer each with a model
# fitted on the others (a set beside a `corpus/` folder is asked of those pages).
LABELED_SETS = tuple(PROJECT_ROOT / "tests" / "data" / name for name in (
    "dev.jsonl", "heldout.jsonl", "dev-readers.jsonl", "own-readers.jsonl", "tune-readers.jsonl",
    "fresh-readers.jsonl", "train-readers.jsonl", "wiki-train/questions.jsonl", "wiki-council/questions.jsonl",
    "wiki-handbook/questions.jsonl"))


@dataclass(frozen=True)
class Sizes:
    """How much each row does; `--quick` shrinks everything but keeps the code paths."""

    build_repeats: int  # five-article build and its floor, each this many times
    generated_chunks: int  # chunks of the generated corpus
    latency_rounds: int  # passes over the dev questions
    cold_starts: int  # runs of each process
    served_rounds: int  # passes over the dev questions per client
    concurrent_clients: int
    vectors: int  # scale row
    queries: int  # scale row
    crossing_sizes: tuple[int, ...]  # flat-search latency at these sizes, to place the exact/ANN threshold
    model_builds: int  # index builds (and their floors) per model in the model rows
    set_questions: int | None  # questions per set in the model rows (None: all); follow-ups always among them
    wiki_pages: int = 10_000  # generated wiki of the incremental rows
    wiki_paragraphs: int = 2  # one-sentence paragraphs per page there
    large_pages: int = 100_000  # generated wiki of the large build row (one paragraph a page): issue 12's size


FULL = Sizes(build_repeats=3, generated_chunks=20_000, latency_rounds=10, cold_starts=3, served_rounds=3,
             concurrent_clients=16, vectors=1_000_000, queries=500,
             crossing_sizes=(5_000, 10_000, 20_000, 50_000, 100_000, 200_000), model_builds=3,
             set_questions=None)
QUICK = Sizes(build_repeats=2, generated_chunks=500, latency_rounds=2, cold_starts=1, served_rounds=1,
              concurrent_clients=16, vectors=50_000, queries=100, crossing_sizes=(5_000, 20_000, 50_000),
              model_builds=1, set_questions=6, wiki_pages=300, wiki_paragraphs=4, large_pages=1_000)


@dataclass(frozen=True)
class Context:
    sizes: Sizes
    work: Path  # temporary folder of this run
    settings: Settings  # real corpus, index in `work`
    embedder: Embedder
    model: Any  # bare SentenceTransformer for the floors
    questions: tuple[str, ...]  # dev questions

    def rag(self) -> RAG:
        return RAG(self.settings, self.embedder)


def open_context(sizes: Sizes, work: Path) -> Context:
    """Load the model twice (project and bare), build the five-article index in `work/index`."""
    search_on_one_thread()  # as `python -m rag serve` does: latency rows measure what a server runs
    settings = Settings.load(env={}, index_dir=work / "index")
    with contextlib.redirect_stderr(io.StringIO()):  # progress bars of model loading and embedding
        embedder = load_embedder(settings)
        ensure_index(settings, embedder)
        model = bare_model(settings)
    questions = tuple(json.loads(line)["question"] for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines()
                      if line.strip())
    return Context(sizes, work, settings, embedder, model, questions)


def bare_model(settings: Settings) -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(resolve_model_path(settings.model_path, settings.model)), device="cpu",
                                local_files_only=True)
    model.encode_query(["warm up"], convert_to_numpy=True, show_progress_bar=False)
    return model


def encode_documents(model: Any, texts: list[str], batch_size: int) -> None:
    """The floor of index building: the model embedding `texts` and nothing else."""
    if texts:
        model.encode_document(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                              show_progress_bar=False)


def encode_query(model: Any, text: str) -> None:
    """The floor of answering: the model embedding one question and nothing else."""
    model.encode_query([text], batch_size=1, normalize_embeddings=True, convert_to_numpy=True,
                       show_progress_bar=False)


def model_env(settings: Settings) -> dict[str, str]:
    """`RAG_*` variables that give a child process these settings' corpus, index and model."""
    return {"RAG_CORPUS_DIR": str(settings.corpus_dir), "RAG_INDEX_DIR": str(settings.index_dir),
            "RAG_MODEL": settings.model, "RAG_MODEL_PATH": settings.model_path}


QuestionSet = tuple[str, Path, tuple[Question, ...] | None]  # label, file, its questions (None: no such file)


def question_sets(documents: list[Document], sets: tuple[tuple[str, Path], ...] = QUESTION_SETS) -> list[QuestionSet]:
    """(label, path, questions) of every set; questions is None when the file is absent."""
    by_id = {d.doc_id: d for d in documents}
    return [(label, path, load_questions(path, by_id) if path.is_file() else None) for label, path in sets]


def some_questions(questions: tuple[Question, ...], limit: int | None) -> tuple[Question, ...]:
    """The first `limit` questions in file order, two of them follow-ups when the set has any (all if None)."""
    if limit is None or len(questions) <= limit:
        return questions
    followups = [q for q in questions if q.history][:2]
    plain = [q for q in questions if not q.history][:limit - len(followups)]
    chosen = {id(q) for q in followups + plain}
    return tuple(q for q in questions if id(q) in chosen)
