"""Odd corpus files and damaged indexes: each skipped, rebuilt or refused with a message saying why."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rag.cli import main
from rag.config import PROJECT_ROOT, Settings
from rag.index.files import current_build, read_manifest
from rag.ingest.corpus import MAX_FILE_BYTES, load_corpus
from rag.models.embedding import Embedder
from rag.pipeline import RAG, ensure_index
from rag.schema import CorpusError, IndexCorruptError, StaleIndexError
from tests.conftest import SMALL_CORPUS, publish_copy

REAL = "004_089e00b1afc4a471.txt"


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("empty.txt", b"", "empty file"),
    ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "contains NUL bytes: a binary file, not a page"),
    ("latin1.txt", "Caf\u00e9 in Tokyo. The office opens.".encode("latin-1"),
     "not UTF-8 (byte 3 is 0xe9); convert it, e.g. iconv -f latin1 -t utf-8"),
    ("huge.txt", b"NATO office. " * (MAX_FILE_BYTES // 13 + 1),
     f"{(MAX_FILE_BYTES // 13 + 1) * 13} bytes is over the {MAX_FILE_BYTES}-byte limit for one article; split it"),
])
def test_bad_file_is_skipped_with_its_reason(corpus_copy: Path, name: str, content: bytes, reason: str):
    (corpus_copy / name).write_bytes(content)
    documents, skipped = load_corpus(corpus_copy)
    assert [(Path(s.path).name, s.reason) for s in skipped] == [(name, reason)]
    assert len(documents) == 5


def test_duplicate_article_is_skipped(corpus_copy: Path):
    (corpus_copy / "zzz_copy.txt").write_bytes((corpus_copy / REAL).read_bytes())
    documents, skipped = load_corpus(corpus_copy)
    assert [(Path(s.path).name, s.reason) for s in skipped] == [("zzz_copy.txt", f"same content as {REAL}")]


def test_symlink_outside_the_corpus_is_skipped(corpus_copy: Path, tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("Private notes about the office.", encoding="utf-8")
    (corpus_copy / "link.txt").symlink_to(secret)
    _, skipped = load_corpus(corpus_copy)
    assert [(Path(s.path).name, s.reason) for s in skipped] == [
        ("link.txt", "a symlink to a file outside the corpus folder")]


def test_bom_and_crlf_keep_offsets_exact(corpus_copy: Path, embedder: Embedder, tmp_path: Path):
    for path in corpus_copy.iterdir():  # the BOM article alone: a build of one
        if path.name not in SMALL_CORPUS:
            path.unlink()
    text = (corpus_copy / REAL).read_text(encoding="utf-8").replace("\n", "\r\n")
    (corpus_copy / REAL).write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    settings = Settings.load(env={}, corpus_dir=corpus_copy, index_dir=tmp_path / "index")
    ensure_index(settings, embedder)
    rag = RAG(settings, embedder)
    document = rag.documents[REAL[:-4]]
    assert document.raw.startswith("\ufeffUS-led NATO") and "\r\n" in document.raw
    assert document.title == "US-led NATO’s attempt to open liaison office in Japan under fire"
    answer = rag.ask("When is the NATO liaison office in Japan expected to open?")
    raw = (corpus_copy / REAL).read_bytes().decode("utf-8")
    cited = [c for c in answer.citations if c.doc_id == REAL[:-4]]
    assert cited and all(raw[c.start:c.end] == c.text for c in cited)
    assert all(raw[p.chunk.start:p.chunk.end] == p.chunk.text for p in answer.passages if p.chunk.doc_id == REAL[:-4])


def test_empty_corpus_stops_the_build_with_a_message(tmp_path: Path, embedder: Embedder):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "empty.txt").write_bytes(b"")
    settings = Settings.load(env={}, corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    with pytest.raises(CorpusError) as caught:
        ensure_index(settings, embedder)
    assert str(caught.value) == (f"no readable page in {tmp_path / 'corpus'} (1 skipped); "
                                 "add UTF-8 .txt, .md or .html files there and run `python -m rag index`")


def test_file_removed_after_indexing_triggers_a_rebuild(built: Settings, embedder: Embedder):
    (built.corpus_dir / REAL).unlink()
    with pytest.raises(StaleIndexError):
        RAG(built, embedder)
    rag = RAG.open(built)
    assert set(rag.documents) == {p.stem for p in built.corpus_dir.glob("*.txt")} and len(rag.documents) == 4
    assert read_manifest(current_build(built.index_dir))["counts"]["documents"] == 4


def test_fewer_chunks_than_k_never_reach_a_missing_chunk(tmp_path: Path, embedder: Embedder):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "one.txt").write_text("NATO plans an office in Tokyo. China objected.", encoding="utf-8")
    settings = Settings.load(env={}, corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", k=50)
    ensure_index(settings, embedder)
    answer = RAG(settings, embedder).ask("Who objected to the office?")
    assert [p.chunk.chunk_id for p in answer.passages] == [0]
    assert answer.citations[0].clean == "China objected."


@pytest.mark.parametrize(("field", "value", "message"), [
    ("counts.chunks", 999, "the index holds 81 vectors of dimension 384 for 81 chunks (manifest: 999)"),
    ("model.dimension", 768, "the index has dimension 768, the model gives 384"),
])
def test_manifest_that_disagrees_with_the_vectors_is_refused(built: Settings, embedder: Embedder, field: str,
                                                             value: int, message: str):
    _forge_manifest(built, field, value)
    with pytest.raises(IndexCorruptError) as caught:
        RAG(built, embedder)
    assert str(caught.value) == f"{message}; run `python -m rag index --force` to rebuild it"


def test_a_refused_index_is_rebuilt_on_open(small_built: Settings):
    chunks = read_manifest(current_build(small_built.index_dir))["counts"]["chunks"]
    _forge_manifest(small_built, "counts.chunks", 999)
    rebuilt = RAG.open(small_built)  # what `make run` does: rebuild, never serve the broken one
    assert rebuilt.manifest["counts"]["chunks"] == chunks != 999
    assert rebuilt.ask("Who opposed the Tokyo office?").citations


def _forge_manifest(settings: Settings, field: str, value: int) -> None:
    import json

    manifest_path = current_build(settings.index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    section, key = field.split(".")
    manifest[section][key] = value
    manifest_path.write_text(json.dumps(manifest))


def _index_process(settings: Settings) -> subprocess.Popen[str]:
    env = {**os.environ, "RAG_CORPUS_DIR": str(settings.corpus_dir), "RAG_INDEX_DIR": str(settings.index_dir)}
    return subprocess.Popen([sys.executable, "-m", "rag", "index", "--force"], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_build_killed_mid_way_leaves_the_previous_index(small_built: Settings, embedder: Embedder):
    settings = small_built
    before = current_build(settings.index_dir)
    expected = RAG(settings, embedder).ask("Who opposed the Tokyo office?")
    process = _index_process(settings)
    builds = settings.index_dir / "builds"
    deadline = time.monotonic() + 300
    # Killed once its half build exists: a non-terminal build prints nothing until its summary line.
    while not any(p.name.endswith(".partial") for p in builds.iterdir()):
        assert process.poll() is None, "the build ended before it could be killed"
        assert time.monotonic() < deadline, "no half build appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert current_build(settings.index_dir) == before
    assert any(p.name.endswith(".partial") for p in (settings.index_dir / "builds").iterdir())  # the half build
    answer = RAG(settings, embedder).ask("Who opposed the Tokyo office?")
    assert answer.text == expected.text and answer.citations == expected.citations
    assert ensure_index(settings, embedder, force=True).rebuilt
    assert [p.name for p in (settings.index_dir / "builds").iterdir()] == [current_build(settings.index_dir).name]


def test_two_builders_at_once_one_waits_and_the_result_is_valid(small_built: Settings, embedder: Embedder):
    # Two builders in threads: each takes the lock on its own open file, as two processes would (flock).
    messages: list[tuple[str, str]] = []
    reports, errors = [], []

    def builder(name: str) -> None:
        try:
            reports.append(ensure_index(small_built, embedder, force=True,
                                        progress=lambda message: messages.append((name, message))))
        except BaseException as err:  # any failure at all is the finding
            errors.append(err)

    threads = [threading.Thread(target=builder, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == [] and [r.rebuilt for r in reports] == [True, True]  # --force: each built in turn, none half
    # Everything a builder says is said under the lock, so one builder's messages never interleave the other's.
    order = [name for name, _ in messages]
    assert len(messages) == 6 and order in (["first"] * 3 + ["second"] * 3, ["second"] * 3 + ["first"] * 3), messages
    builds = [p.name for p in (small_built.index_dir / "builds").iterdir()]
    assert builds == [current_build(small_built.index_dir).name]
    answer = RAG(small_built, embedder).ask("Who opposed the Tokyo office?")
    assert answer.citations and all(c.text == answer_raw(small_built, c) for c in answer.citations)


def test_rebuild_while_answering_swaps_atomically(small_built: Settings, embedder: Embedder):
    settings = small_built
    rag = RAG(settings, embedder)
    errors: list[BaseException] = []
    answered = []
    stop = threading.Event()

    def ask_until_stopped() -> None:
        while not stop.is_set():
            try:
                answer = rag.ask("Who opposed the Tokyo office?")
                assert all(rag.documents[c.doc_id].raw[c.start:c.end] == c.text for c in answer.citations)
                answered.append(answer)
            except BaseException as err:  # any failure at all is the finding
                errors.append(err)

    threads = [threading.Thread(target=ask_until_stopped) for _ in range(4)]
    for thread in threads:
        thread.start()
    old = rag.manifest["build_id"]
    ensure_index(settings, embedder, force=True)
    assert rag.reload()
    after_reload = len(answered)
    # Answers keep coming from the new build, with none lost at the swap.
    assert _eventually(lambda: len(answered) > after_reload + 10 or bool(errors))
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == [] and len(answered) > 10
    assert rag.manifest["build_id"] != old


def test_the_watcher_logs_a_failed_look_and_goes_on(built: Settings, embedder: Embedder,
                                                     caplog: pytest.LogCaptureFixture):
    settings = built
    rag = RAG(settings, embedder)
    old = rag.manifest["build_id"]
    pointer = settings.index_dir / "CURRENT"
    # An unreadable pointer (a folder where the file should be) is said in one line, without a traceback.
    pointer.unlink()
    pointer.mkdir()
    stop = rag.watch(interval_s=0.05)
    try:
        assert _eventually(lambda: f"cannot look for a new index build: {pointer} cannot be read" in caplog.text)
        assert all(record.exc_info is None for record in caplog.records)
        assert rag.ask("Who opposed the Tokyo office?").citations  # the loaded build still serves
        pointer.rmdir()
        (settings.index_dir / "CURRENT").write_text(old + "\n", encoding="utf-8")
        new = publish_copy(settings.index_dir)
        assert _eventually(lambda: rag.manifest["build_id"] == new != old)  # and the watcher swaps in the next one
    finally:
        stop.set()


def answer_raw(settings: Settings, citation) -> str:
    """The raw file text a citation's range covers."""
    raw = (settings.corpus_dir / f"{citation.doc_id}.txt").read_bytes().decode("utf-8")
    return raw[citation.start:citation.end]


def _eventually(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# --- damage to the index folder itself, as `python -m rag ask` meets it (in this process)

HEADLINE = "Who opposed the Tokyo office?"


def _damage(settings: Settings, kind: str) -> str:
    """Damage the index of `settings` in one way; returns the build it named (as a path)."""
    build = current_build(settings.index_dir)
    pointer = settings.index_dir / "CURRENT"
    if kind == "CURRENT not UTF-8":
        pointer.write_bytes(b"\xff\xfe")
    elif kind == "CURRENT a folder":
        pointer.unlink()
        pointer.mkdir()
    elif kind == "model a string":
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
        manifest["model"] = "all-MiniLM-L6-v2"
        (build / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    elif kind == "builds a file":
        shutil.rmtree(build.parent)
        build.parent.write_text("not a folder\n", encoding="utf-8")
    return str(build)


def test_damage_a_build_can_replace_is_rebuilt_and_ask_says_why(tmp_path: Path, embedder: Embedder,
                                                                capsys: pytest.CaptureFixture[str]):
    # A two-sentence corpus: the rebuild this damage forces reuses no vector, and what is checked is the saying.
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "one.txt").write_text("NATO plans an office in Tokyo. China objected.", encoding="utf-8")
    settings = Settings.load(env={}, corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    ensure_index(settings, embedder)
    build = _damage(settings, "CURRENT not UTF-8")
    code = main(["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir), "ask",
                 "Who objected to the office?"])
    out, err = capsys.readouterr()

    assert code == 0, err
    assert err.splitlines()[0] == (f"rebuilding: {settings.index_dir}/CURRENT holds no build name (byte 0 is "
                                   "0xff, not UTF-8); run `python -m rag index --force`")
    assert "Traceback" not in err and "Sources:" in out and "China objected." in out
    assert current_build(settings.index_dir).name != Path(build).name


def test_a_manifest_section_of_the_wrong_type_is_refused_as_corrupt(built: Settings, embedder: Embedder):
    # The same refusal `RAG.open` answers with a rebuild (test_a_refused_index_is_rebuilt_on_open).
    build = _damage(built, "model a string")
    with pytest.raises(IndexCorruptError) as caught:
        RAG(built, embedder)
    assert str(caught.value) == (f"{build}/manifest.json has no 'model' section (found str); "
                                 "run `python -m rag index --force`")


@pytest.mark.parametrize(("kind", "message"), [
    ("CURRENT a folder", "{index}/CURRENT is not a file (a build writes the current build's name there); "
                         "remove it and run `python -m rag index`"),
    ("builds a file", "{index}/builds is not a folder (builds are written there); remove it and run "
                      "`python -m rag index`"),
])
def test_damage_a_build_cannot_replace_is_one_error_line(small_built: Settings, kind: str, message: str,
                                                         capsys: pytest.CaptureFixture[str]):
    _damage(small_built, kind)
    code = main(["--corpus", str(small_built.corpus_dir), "--index", str(small_built.index_dir), "ask", HEADLINE])
    out, err = capsys.readouterr()

    assert code == 2 and out == ""
    assert err == f"error: {message.format(index=small_built.index_dir)}\n"
