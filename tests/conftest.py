"""Shared fixtures: the real corpus, the real model, one index built per test run."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers (pytest-xdist) on this machine's two cores. Torch's default, one thread
    # per core in each worker and in each child process they start, would have threads spinning against
    # each other; one each keeps both cores busy without that. Set before anything imports torch.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # ONNX Runtime likewise: one thread an encoding, here and in the children (RAG_ONNX_THREADS).
    os.environ.setdefault("RAG_ONNX_THREADS", "1")

from rag.config import PROJECT_ROOT, Settings  # noqa: E402 (after the thread setting above)
from rag.index.files import build_lock, current_build, read_manifest
from rag.models.embedding import Embedder
from rag.pipeline import RAG, IndexReport, ensure_index, load_embedder
from rag.schema import RagError

CORPUS = PROJECT_ROOT / "corpus"
DATA = Path(__file__).parent / "data"
ARTIFACTS = Path(__file__).parent / "artifacts"  # what tests leave to look at (screenshots, reports)

# `make test` hands whole files to its two workers (`--dist loadfile --no-loadscope-reorder`) in collection
# order. Longest first: a long file handed out last leaves one worker running it alone while the other
# idles (xdist's own order, most tests first, put the 30 s load test last). Seconds of wall time in a
# quiet `make test`, 2026-12-03 (after the Milvus publish stopped sleeping); files not listed are short and keep
# their order after these.
LONGEST_FILES_FIRST = (
    "test_openapi.py",  # 33 s
    "test_load.py",  # 32
    "test_ui.py",  # 32
    "test_api.py",  # 31
    "test_onnx.py",  # 24
    "test_milvus_serving.py",  # 22
    "test_embedding.py",  # 21
    "test_models.py",  # 19
    "test_milvus_store.py",  # 15
    "test_reliability_corpus.py",  # 15
    "test_hostile_clients.py",  # 14
    "test_security.py",  # 14
    "test_accessibility.py",  # 12
    "test_wiki.py",  # 12
    "test_newcomer.py",  # 10
    "test_feedback.py",  # 9
    "test_index.py",  # 8
    "test_embed.py",  # 7
    "test_followups.py",  # 5
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: n for n, name in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: a file's tests keep their order


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings over the shipped corpus with an index and a ratings folder of the test run's own (env ignored)."""
    return Settings.load(env={"RAG_ONNX_THREADS": os.environ.get("RAG_ONNX_THREADS", "2")}, corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("index"),
                         feedback_dir=tmp_path_factory.mktemp("feedback"))


@pytest.fixture(scope="session")
def embedder(settings: Settings) -> Embedder:
    """The embedder the program uses: the ONNX export run by ONNX Runtime (rag/models/onnx_embedding.py)."""
    return load_embedder(settings)


@pytest.fixture(scope="session")
def torch_embedder(settings: Settings) -> Embedder:
    """The reference: sentence-transformers on torch (RAG_ENCODER=torch)."""
    return load_embedder(settings.replace(encoder="torch"))


@pytest.fixture(scope="session")
def session_build(settings: Settings, embedder: Embedder) -> IndexReport:
    """The test run's index: a copy of the project's when `make index` left it current (as `make test` does
    just before), otherwise built here from an empty folder.

    A copy is as good as a build (the manifest names no folder) and saves each worker a build. It is
    checked as `make run` checks an index: `ensure_index` compares what it was built from (corpus, model,
    chunking, format), and loading it verifies every file's checksum; a copy failing either is rebuilt.
    tests/index/test_index.py builds from an empty folder itself.
    """
    if not copy_current_build(PROJECT_ROOT / "index", settings.index_dir):
        return ensure_index(settings, embedder)
    report = ensure_index(settings, embedder)
    try:
        RAG(settings, embedder)
    except RagError:
        return ensure_index(settings, embedder, force=True)
    if read_manifest(current_build(settings.index_dir))["model"].get("encoder") != embedder.encoder:
        # Served as it is, but tests of incremental builds need vectors they may reuse: this encoder's.
        return ensure_index(settings, embedder, force=True)
    return report


def copy_current_build(source: Path, target: Path) -> bool:
    """The build `source/CURRENT` names, and a CURRENT naming it, copied into `target` under `source`'s build
    lock (a `make index` beside the tests cannot swap it mid-copy); False, `target` left empty, when there is
    no such build or it cannot be copied."""
    try:
        with build_lock(source):
            current = current_build(source)
            if current is None:
                return False
            shutil.copytree(current, target / "builds" / current.name, ignore=shutil.ignore_patterns(".lock"))
    except (OSError, ValueError, shutil.Error):
        shutil.rmtree(target / "builds", ignore_errors=True)
        return False
    (target / "CURRENT").write_text(current.name + "\n", encoding="utf-8")
    return True


# Tests that rebuild an index to check a build's atomicity, locking or recovery do it over one article:
# what they check does not depend on how many there are, and a rebuild of the shortest article (117 texts
# to embed) takes a third of the time of two. It answers the question they ask ("Who opposed the Tokyo
# office?", China's editorial). The tests of what `index` and `app.py` print over several articles use two.
SMALL_CORPUS = ("004_089e00b1afc4a471.txt",)
TWO_ARTICLES = ("000_8a9c36b7067f3b95.txt", "004_089e00b1afc4a471.txt")


@pytest.fixture(scope="session")
def small_index(settings: Settings, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings over `SMALL_CORPUS`, with its index built once per test run."""
    root = tmp_path_factory.mktemp("small")
    (root / "corpus").mkdir()
    for name in SMALL_CORPUS:
        shutil.copy2(CORPUS / name, root / "corpus" / name)
    small = settings.replace(corpus_dir=root / "corpus", index_dir=root / "index")
    ensure_index(small, embedder)
    return small


@pytest.fixture()
def small_built(small_index: Settings, tmp_path: Path) -> Settings:
    """A writable copy of the small corpus and of its index, as `built` is of the whole corpus."""
    shutil.copytree(small_index.corpus_dir, tmp_path / "corpus")
    shutil.copytree(small_index.index_dir, tmp_path / "index", ignore=shutil.ignore_patterns(".lock"))
    return small_index.replace(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")


@pytest.fixture(scope="session")
def rag(settings: Settings, embedder: Embedder, session_build: IndexReport) -> RAG:
    return RAG(settings, embedder)


@pytest.fixture()
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture()
def built(settings: Settings, rag: RAG, corpus_copy: Path, tmp_path: Path) -> Settings:
    """Settings over a writable copy of the corpus and a copy of the session's built index.

    For tests that change, damage or rebuild an index. A copy is as valid as a
    fresh build (the manifest holds the corpus fingerprint and every file's
    SHA-256, none of which name the folder) and takes milliseconds, not a build.
    """
    index_dir = tmp_path / "index"
    shutil.copytree(settings.index_dir, index_dir, ignore=shutil.ignore_patterns(".lock"))
    return settings.replace(corpus_dir=corpus_copy, index_dir=index_dir)


def publish_copy(index_dir: Path) -> str:
    """Publish a copy of the current build under a new build id, as `python -m rag index` publishes a build.

    For tests of what a server does when a new build appears, without embedding the corpus again: the
    files (and so their manifest hashes) are the same, only the id differs. Returns the new id.
    """
    current = current_build(index_dir)
    build_id = f"{current.name}-copy{uuid.uuid4().hex[:6]}"
    shutil.copytree(current, current.parent / f"{build_id}.partial")
    manifest_path = current.parent / f"{build_id}.partial" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["build_id"] = build_id
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    os.rename(current.parent / f"{build_id}.partial", current.parent / build_id)
    pointer = index_dir / f".CURRENT.{build_id}"
    pointer.write_text(build_id + "\n", encoding="utf-8")
    os.replace(pointer, index_dir / "CURRENT")
    return build_id


@pytest.fixture(scope="session")
def server(rag: RAG) -> Iterator[object]:
    """The whole web app on a free 127.0.0.1 port (a `servers.RunningApp`), started once for the test run."""
    from tests.servers import start_app

    from rag.serve.api import create_app

    running = start_app(create_app(rag))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A Milvus Lite gRPC server on 127.0.0.1 for one test module (a `milvus_server.MilvusServer`)."""
    from tests.milvus_server import MilvusServer

    server = MilvusServer(tmp_path_factory.mktemp("milvus") / "data").start()
    yield server
    server.stop(clean=False)  # its folder is thrown away with the test run


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium, launched once per test run."""
    from tests.servers import launch_chromium

    with launch_chromium() as chromium:
        yield chromium
