"""Issue 25, hostile corpus: tests/test_hostile_corpus.py split one finding a test, for the code before the fixes.

ADAPTED COPY for the before/after demonstration (never committed to main). The test as written imports
`rag.page_meta` and `rag.printable`, which the fixes added, and puts every hostile file in one folder, so on
the old code it stops at the first crash (the symlink loop) and never reaches the others. Here each finding
gets a folder of its own (a good page plus the hostile file), the caps are written out (title 500, url 2,000
characters: rag.page_meta.MAX_CHARS), and the expected reasons are those of the test as written. Only the
old API is used (rag.corpus.read_pages, rag.cli.main), which the new code keeps, so the same file runs on both.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

import rag.corpus
from rag.cli import main
from rag.corpus import read_pages
from rag.index import current_build, read_manifest
from rag.schema import Document

GOOD = "# Liaison office\n\nNATO plans a liaison office in Tokyo, its first in Asia.\n"
ODD_NAMES = ("odd\nname.md", "\x1b[31mred.md", "\u202eevil.md")
MAX_TITLE, MAX_URL = 500, 2000  # rag.page_meta.MAX_CHARS after the fix


def alias_bomb() -> str:
    """As in the test as written: nine levels of nine aliases each, the title the seventh (9**7 repeats)."""
    levels = "abcdefghi"
    lines = ["---", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{name}: &{name} [{','.join([f'*{below}'] * 9)}]" for below, name in zip(levels, levels[1:])]
    return "\n".join([*lines, "title: *g", "---", "", "# Aliases", "", "A page whose front matter explodes.", ""])


def wiki(tmp_path: Path) -> Path:
    corpus = tmp_path / "wiki"
    corpus.mkdir()
    (corpus / "good.md").write_text(GOOD, encoding="utf-8")
    return corpus


def outcome(read) -> tuple[dict[str, str], dict[str, int]]:
    """(skipped file name -> reason, read doc_id -> length of its title)"""
    return ({Path(s.path).name: s.reason for s in read.skipped}, {d.doc_id: len(d.title) for d in read.documents})


# --- finding 1: the alias bomb, and metadata that is no text or too long


def test_finding1_alias_bomb_is_skipped_in_a_moment(tmp_path: Path) -> None:
    corpus = wiki(tmp_path)
    (corpus / "aliases.md").write_text(alias_bomb(), encoding="utf-8")
    print(f"aliases.md is {(corpus / 'aliases.md').stat().st_size} bytes")

    started = time.perf_counter()
    read = read_pages(corpus)
    seconds = time.perf_counter() - started
    skipped, titles = outcome(read)
    print(f"read_pages took {seconds:.2f} s; skipped {skipped}; title lengths {titles}")

    assert skipped.get("aliases.md") == "front matter uses a YAML alias (*name); write each value out in full", (
        f"aliases.md was read as a page, its title {titles.get('aliases', 0):,} characters long")
    assert seconds < 5


@pytest.mark.parametrize(("name", "text", "sidecar", "reason"), [
    ("list-title.md", "---\ntitle: [NATO, Tokyo]\n---\n\nThe office opens next year.\n", None,
     "front matter field 'title' is a list, not text; write it as one line of text"),
    ("sidecar.md", "Japan welcomed the plan.\n", '{"title": {"text": "Japan"}}',
     "sidecar.json field 'title' is a mapping, not text; write it as one line of text"),
    ("long-title.html", f"<title>{'T' * (MAX_TITLE + 1)}</title><p>China objected.</p>", None,
     "its title has 501 characters, over the 500-character limit for a page's title; shorten it"),
    ("long-url.md", f"---\nurl: https://wiki.example/{'u' * MAX_URL}\n---\n\nFrance had doubts.\n", None,
     "its url has 2,021 characters, over the 2,000-character limit for a page's url; shorten it"),
])
def test_finding1_metadata_that_is_no_text_or_too_long_is_skipped(tmp_path: Path, name: str, text: str,
                                                                   sidecar: str | None, reason: str) -> None:
    corpus = wiki(tmp_path)
    (corpus / name).write_text(text, encoding="utf-8")
    if sidecar:
        (corpus / name).with_suffix(".json").write_text(sidecar, encoding="utf-8")

    skipped, titles = outcome(read_pages(corpus))
    read = {d.doc_id: (d.title[:60], len(d.title), len(d.url or "")) for d in read_pages(corpus).documents}

    assert skipped.get(name) == reason, f"{name} was read: (title[:60], len(title), len(url)) = {read}"


# --- finding 4: a symlink loop


def test_finding4_a_symlink_loop_is_skipped(tmp_path: Path) -> None:
    corpus = wiki(tmp_path)
    (corpus / "loop.md").symlink_to("loop.md")

    skipped, titles = outcome(read_pages(corpus))

    assert skipped == {"loop.md": "a symlink loop (it leads back to itself, never to a file); remove it"}
    assert set(titles) == {"good"}


def test_finding4_index_over_a_symlink_loop_builds_and_says_one_line(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    corpus = wiki(tmp_path)
    (corpus / "loop.md").symlink_to("loop.md")

    code = main(["--corpus", str(corpus), "--index", str(tmp_path / "index"), "index"])
    lines = capsys.readouterr().out.splitlines()

    assert code == 0
    assert f"skipped {corpus}/loop.md: a symlink loop (it leads back to itself, never to a file); remove it" in lines
    assert read_manifest(current_build(tmp_path / "index"))["counts"]["documents"] == 1


# --- finding 8: a file removed while the corpus is read


def test_finding8_a_file_found_missing_is_skipped_as_removed_not_as_not_a_regular_file(tmp_path: Path) -> None:
    # The mechanism of the test as written: removed after the walk listed it, before it was opened.
    corpus = wiki(tmp_path)
    (corpus / "vanishing.md").write_text("This page is removed while the corpus is read.\n", encoding="utf-8")

    def remove_a_later_page(document: Document) -> None:
        if document.doc_id == "good":
            (corpus / "vanishing.md").unlink()

    skipped, titles = outcome(read_pages(corpus, on_parsed=remove_a_later_page))

    assert skipped == {"vanishing.md": "removed while the corpus was read"}


def test_finding8_a_file_removed_between_its_size_check_and_its_read_does_not_kill_the_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The race of the finding: the file is removed just after the reader checked its size. The old reader
    # checks with os.stat (in _unreadable_reason) and then calls path.read_bytes(); the new one opens the file
    # and checks with os.fstat (in _file_bytes). Either size check, once it returns, removes the file.
    corpus = wiki(tmp_path)
    vanishing = corpus / "vanishing.md"
    vanishing.write_text("This page is removed while the corpus is read.\n", encoding="utf-8")
    real_stat, real_fstat = os.stat, os.fstat
    removed = []

    def after(result):
        caller = sys._getframe(2).f_code.co_name
        if caller in ("_unreadable_reason", "_file_bytes") and vanishing.exists() and not removed:
            vanishing.unlink()
            removed.append(caller)
        return result

    def stat(path, *args, **kwargs):
        result = real_stat(path, *args, **kwargs)
        return after(result) if str(path) == str(vanishing) else result

    def fstat(fd):
        result = real_fstat(fd)
        return after(result) if os.path.realpath(f"/proc/self/fd/{fd}") == str(vanishing.resolve()) else result

    monkeypatch.setattr(rag.corpus.os, "stat", stat)
    monkeypatch.setattr(rag.corpus.os, "fstat", fstat)
    read = read_pages(corpus)
    monkeypatch.undo()
    skipped, titles = outcome(read)
    print(f"removed just after the size check in {removed}; skipped {skipped}; read {sorted(titles)}")

    assert removed, "the file was never removed: the hook missed the size check"
    assert "good" in titles
    # Read whole (the new reader holds it open) or skipped as removed; never the build dying.
    assert "vanishing" in titles or skipped.get("vanishing.md") == "removed while the corpus was read"


# --- finding 8: control characters in file names


def test_finding8_index_escapes_control_characters_so_each_file_is_one_line(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    corpus = wiki(tmp_path)
    for number, name in enumerate(ODD_NAMES):
        (corpus / name).write_text(f"An oddly named page, number {number}, about the office.\n", encoding="utf-8")

    code = main(["--corpus", str(corpus), "--index", str(tmp_path / "index"), "index"])
    lines = capsys.readouterr().out.splitlines()
    print("the lines index printed:", *(repr(line) for line in lines), sep="\n  ")

    assert code == 0
    assert all(line.startswith(("read    ", "skipped ", "built   ")) for line in lines), lines
    read = sorted(line.split(":")[0] for line in lines if line.startswith("read    "))
    assert read == sorted(["read    good", "read    odd\\nname", "read    \\x1b[31mred", "read    \\u202eevil"])
