"""An index belongs to its corpus: each corpus has its own folder by default, a build never replaces another
corpus's index unless forced, and a server whose index folder another corpus's build took over says so once a
while (not on every look), keeps serving, and gives advice that is safe to follow."""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import time
from pathlib import Path

import pytest

from rag.cli import main
from rag.config import OTHER_INDEXES, PROJECT_ROOT, Settings, default_index_dir
from rag.models.embedding import Embedder
from rag.index.files import current_build, read_manifest
from rag.index.lifecycle import another_corpus
from rag.pipeline import RAG, ensure_index
from rag.index.throttle import Throttle

HEADLINE = "Who opposed the Tokyo office?"
PAGES = {"handbook.md": "# Team handbook\n\nNew engineers get a laptop on their first day.\n",
         "leave.md": "# Leave policy\n\nEvery employee gets 25 days of paid leave a year.\n"}


def write_wiki(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, text in PAGES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def wiki_build(settings: Settings, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A two-page wiki with its own index, built once for the module."""
    root = tmp_path_factory.mktemp("wiki")
    wiki = settings.replace(corpus_dir=write_wiki(root / "wiki"), index_dir=root / "index")
    ensure_index(wiki, embedder)
    return wiki


def test_the_default_index_folder_follows_the_corpus(tmp_path: Path) -> None:
    assert Settings.load(env={}).index_dir == PROJECT_ROOT / "index"
    assert Settings.load(env={"RAG_CORPUS_DIR": str(PROJECT_ROOT / "corpus")}).index_dir == PROJECT_ROOT / "index"
    wiki = Settings.load(env={}, corpus_dir=tmp_path / "my-wiki").index_dir
    assert wiki.parent == OTHER_INDEXES and re.fullmatch(r"my-wiki-[0-9a-f]{8}", wiki.name)
    assert wiki != Settings.load(env={}, corpus_dir=tmp_path / "other" / "my-wiki").index_dir  # by path, not name
    assert Settings.load(env={"RAG_CORPUS_DIR": str(tmp_path / "my-wiki")}).index_dir == wiki
    # Named, the folder is the one named, by the variable or the flag.
    assert Settings.load(env={"RAG_INDEX_DIR": str(tmp_path / "i")}, corpus_dir=tmp_path / "w").index_dir == \
        tmp_path / "i"
    assert Settings.load(env={}, corpus_dir=tmp_path / "w", index_dir=tmp_path / "j").index_dir == tmp_path / "j"
    assert default_index_dir(tmp_path / "my-wiki") == wiki


def test_a_build_never_replaces_another_corpus_index_unless_forced(small_built: Settings, wiki_build: Settings,
                                                                     embedder: Embedder,
                                                                     capsys: pytest.CaptureFixture) -> None:
    before = {p: p.read_bytes() for p in small_built.index_dir.rglob("*") if p.is_file() and p.name != ".lock"}
    built_from = read_manifest(current_build(small_built.index_dir))["corpus"]["folder"]  # the copy's original
    argv = ["--corpus", str(wiki_build.corpus_dir), "--index", str(small_built.index_dir), "index"]

    assert main(argv) == 2
    own = default_index_dir(wiki_build.corpus_dir)
    assert capsys.readouterr().err == (
        f"error: index folder {small_built.index_dir} holds the index of another corpus ({built_from}), "
        f"which building {wiki_build.corpus_dir} there would replace; build it in a folder of its own with --index "
        f"{own} (or RAG_INDEX_DIR), or replace that index on purpose with `python -m rag index --force`\n")
    assert {p: p.read_bytes() for p in before} == before and len(list((small_built.index_dir / "builds").iterdir())) == 1

    # On purpose: --force replaces it, and the new build records whose it is.
    report = ensure_index(small_built.replace(corpus_dir=wiki_build.corpus_dir), embedder, force=True)
    assert report.rebuilt and read_manifest(current_build(small_built.index_dir))["corpus"] == {
        "folder": str(wiki_build.corpus_dir), "from_index": os.path.relpath(wiki_build.corpus_dir,
                                                                             small_built.index_dir)}


def manifest(folder: str | None, from_index: str | None, documents: list[str]) -> dict:
    recorded = {"corpus": {"folder": folder, "from_index": from_index}} if folder else {}
    return {**recorded, "documents": {d: "sha" for d in documents}}


def test_the_same_corpus_is_known_by_its_folder_or_most_of_its_documents(tmp_path: Path) -> None:
    settings = Settings.load(env={}, corpus_dir=tmp_path / "project" / "corpus", index_dir=tmp_path / "project" / "index")
    (tmp_path / "project" / "corpus").mkdir(parents=True)
    ours = ["a", "b", "c", "d"]
    assert another_corpus(manifest(str(tmp_path / "project" / "corpus"), "../corpus", ["x"]), settings, set(ours)) is None
    # The project moved whole: its old absolute path, the same path from the index folder.
    assert another_corpus(manifest("/old/home/project/corpus", "../corpus", ["x"]), settings, set(ours)) is None
    # A copy of a corpus with its index, or a corpus moved alone: half of the build's documents or more are here.
    assert another_corpus(manifest("/elsewhere/corpus", "../../elsewhere/corpus", ["a", "b", "y", "z"]),
                          settings, set(ours)) is None
    assert another_corpus(manifest("/srv/wiki", "../../srv/wiki", ["a", "x", "y", "z"]), settings, set(ours)) == \
        "/srv/wiki"
    # A build made before the folder was recorded goes by its documents alone.
    assert another_corpus(manifest(None, None, ["a", "b"]), settings, set(ours)) is None
    assert another_corpus(manifest(None, None, ["x", "y"]), settings, set(ours)) == "2 documents, such as x"


def test_a_throttle_says_a_key_once_then_once_an_interval() -> None:
    now = [100.0]
    throttle = Throttle(60.0, clock=lambda: now[0])
    said = []
    for second in range(0, 181, 2):  # a look every 2 seconds for three minutes, as a server's watch looks
        now[0] = 100.0 + second
        said += [second] if throttle.due("another corpus") else []
    assert said == [0, 60, 120, 180]
    assert throttle.due("does not load")  # another problem is said at once


def take_over(index_dir: Path, other: Path) -> str:
    """Publish the current build of the index folder `other` in `index_dir`, as a build of that corpus would."""
    build = current_build(other)
    shutil.copytree(build, index_dir / "builds" / build.name)
    pointer = index_dir / ".CURRENT.takeover"
    pointer.write_text(build.name + "\n", encoding="utf-8")
    os.replace(pointer, index_dir / "CURRENT")
    return build.name


def test_a_server_whose_index_folder_is_taken_over_says_so_once_a_while_and_keeps_serving(
        small_built: Settings, wiki_build: Settings, embedder: Embedder, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("rag.config.OTHER_INDEXES", tmp_path / "indexes")  # where the advice builds: not the project's
    served = RAG(small_built, embedder)
    loaded, answer = served.manifest["build_id"], served.ask(HEADLINE)
    caplog.set_level(logging.WARNING, logger="rag")
    repeat_s, look_s = 0.5, 0.02
    stop = served.watch(interval_s=look_s, repeat_s=repeat_s)
    try:
        taken = take_over(small_built.index_dir, wiki_build.index_dir)
        deadline = time.monotonic() + 30
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(look_s)
        time.sleep(2 * repeat_s + 4 * look_s)  # some fifty looks more
        said = [r.getMessage() for r in caplog.records]
    finally:
        stop.set()

    assert 2 <= len(said) <= 4, said  # once, then once every repeat_s: not on each of the looks
    assert set(said) == {said[0]}
    own = default_index_dir(small_built.corpus_dir)
    assert said[0] == (
        f"still serving index build {loaded} (1 articles of {small_built.corpus_dir}, held in memory): "
        f"{small_built.index_dir} now holds build {taken} of another corpus ({wiki_build.corpus_dir}). Before "
        f"restarting this server, build its corpus in a folder of its own, `python -m rag --corpus "
        f"{small_built.corpus_dir} --index {own} index`, and restart it with the same --corpus and --index; --force "
        "in that folder would replace the other corpus's index")
    assert served.manifest["build_id"] == loaded and served.ask(HEADLINE).citations == answer.citations

    # The advice, followed as printed, builds this corpus apart and leaves the other corpus's index as it is.
    advised = shlex.split(re.search(r"`python -m rag (.*?)`", said[0]).group(1))
    assert main(advised) == 0, capsys.readouterr().err
    assert current_build(small_built.index_dir).name == taken
    assert own.parent == tmp_path / "indexes"
    assert read_manifest(current_build(own))["corpus"]["folder"] == str(small_built.corpus_dir)


def test_a_throttle_forgets_a_key_on_request() -> None:
    throttle = Throttle(60.0, clock=lambda: 0.0)
    assert throttle.due("b1") and not throttle.due("b1")
    throttle.forget("b1")
    assert throttle.due("b1")
