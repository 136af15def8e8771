"""Shared fixtures: the real corpus, the real model, one index built per test run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT, Settings
from rag.embedding import Embedder
from rag.pipeline import RAG, load_embedder

CORPUS = PROJECT_ROOT / "corpus"
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings over the shipped corpus with an index of the test run's own (env ignored)."""
    return Settings.load(env={}, corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="session")
def embedder(settings: Settings) -> Embedder:
    return load_embedder(settings)


@pytest.fixture(scope="session")
def rag(settings: Settings, embedder: Embedder) -> RAG:
    from rag.pipeline import ensure_index

    ensure_index(settings, embedder)
    return RAG(settings, embedder)


@pytest.fixture()
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="module")
def server(rag: RAG) -> Iterator[object]:
    """The whole web app on a free 127.0.0.1 port (a `servers.RunningApp`)."""
    from servers import start_app

    from rag.api import create_app

    running = start_app(create_app(rag))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium, launched once per test run."""
    from servers import launch_chromium

    with launch_chromium() as chromium:
        yield chromium
