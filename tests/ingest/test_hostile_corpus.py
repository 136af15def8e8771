"""A hostile corpus: pages and files made to break the build, each skipped with one line saying why.

The fixture is one wiki folder holding a good page among an alias bomb (459
bytes of front matter that YAML would expand to gigabytes), metadata that is
a list or a mapping, metadata over its cap, a symlink loop, a page removed
while the build reads the corpus, and pages whose names hold a line break, an
ANSI escape and a right-to-left override. Real files, the real reader, and
`python -m rag index` run in this process.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from rag.cli import main
from rag.index.files import current_build, read_manifest
from rag.ingest.corpus import read_pages
from rag.ingest.page_meta import MAX_CHARS
from rag.printable import printable, printable_logs
from rag.schema import Document

GOOD = "# Liaison office\n\nNATO plans a liaison office in Tokyo, its first in Asia.\n"
ODD_NAMES = ("odd\nname.md", "\x1b[31mred.md", "\u202eevil.md")


def alias_bomb() -> str:
    """Nine levels of nine aliases each, the title the seventh: 9**7 repeats once written out as text."""
    levels = "abcdefghi"
    lines = ["---", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{name}: &{name} [{','.join([f'*{below}'] * 9)}]" for below, name in zip(levels, levels[1:])]
    return "\n".join([*lines, "title: *g", "---", "", "# Aliases", "", "A page whose front matter explodes.", ""])


@pytest.fixture()
def hostile_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "wiki"
    corpus.mkdir()
    (corpus / "good.md").write_text(GOOD, encoding="utf-8")
    (corpus / "aliases.md").write_text(alias_bomb(), encoding="utf-8")
    (corpus / "list-title.md").write_text("---\ntitle: [NATO, Tokyo]\n---\n\nThe office opens next year.\n",
                                          encoding="utf-8")
    (corpus / "sidecar.md").write_text("Japan welcomed the plan.\n", encoding="utf-8")
    (corpus / "sidecar.json").write_text('{"title": {"text": "Japan"}}', encoding="utf-8")
    (corpus / "long-title.html").write_text(f"<title>{'T' * (MAX_CHARS['title'] + 1)}</title><p>China objected.</p>",
                                            encoding="utf-8")
    (corpus / "long-url.md").write_text(f"---\nurl: https://wiki.example/{'u' * MAX_CHARS['url']}\n---\n\n"
                                        "France had doubts.\n", encoding="utf-8")
    (corpus / "loop.md").symlink_to("loop.md")
    (corpus / "vanishing.md").write_text("This page is removed while the corpus is read.\n", encoding="utf-8")
    for number, name in enumerate(ODD_NAMES):
        (corpus / name).write_text(f"An oddly named page, number {number}, about the office.\n", encoding="utf-8")
    return corpus


def test_each_hostile_file_is_skipped_with_its_reason_in_a_moment(hostile_corpus: Path) -> None:
    def remove_a_later_page(document: Document) -> None:
        # Pages are read in id order: "good" is parsed before "vanishing" is opened.
        if document.doc_id == "good":
            (hostile_corpus / "vanishing.md").unlink()

    started = time.perf_counter()
    read = read_pages(hostile_corpus, on_parsed=remove_a_later_page)
    seconds = time.perf_counter() - started

    assert sorted((Path(s.path).name, s.reason) for s in read.skipped) == sorted([
        ("aliases.md", "front matter uses a YAML alias (*name); write each value out in full"),
        ("list-title.md", "front matter field 'title' is a list, not text; write it as one line of text"),
        ("sidecar.md", "sidecar.json field 'title' is a mapping, not text; write it as one line of text"),
        ("long-title.html", "its title has 501 characters, over the 500-character limit for a page's title; "
                            "shorten it"),
        ("long-url.md", "its url has 2,021 characters, over the 2,000-character limit for a page's url; shorten it"),
        ("loop.md", "a symlink loop (it leads back to itself, never to a file); remove it"),
        ("vanishing.md", "removed while the corpus was read"),
    ])
    assert sorted(d.doc_id for d in read.documents) == sorted(["good", *(name[:-3] for name in ODD_NAMES)])
    assert seconds < 5  # the alias bomb written out took 44 s at one level more


def test_index_escapes_control_characters_so_each_file_is_one_line(hostile_corpus: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (hostile_corpus / "vanishing.md").unlink()  # removed mid-read only in the test above
    code = main(["--corpus", str(hostile_corpus), "--index", str(tmp_path / "index"), "index"])
    lines = capsys.readouterr().out.splitlines()

    assert code == 0
    assert all(line.startswith(("read    ", "skipped ", "built   ")) for line in lines), lines
    read = sorted(line.split(":")[0] for line in lines if line.startswith("read    "))
    assert read == sorted(["read    good", "read    odd\\nname", "read    \\x1b[31mred", "read    \\u202eevil"])
    assert f"skipped {hostile_corpus}/loop.md: a symlink loop (it leads back to itself, never to a file); " \
           "remove it" in lines
    assert read_manifest(current_build(tmp_path / "index"))["counts"]["documents"] == 4


def test_every_log_message_of_a_server_is_one_line() -> None:
    previous = logging.getLogRecordFactory()
    printable_logs()
    try:
        record = logging.getLogger("rag.test").makeRecord("rag.test", logging.WARNING, __file__, 1,
                                                          "refused %s", ("/queue/data?session_hash=a\nb\x1b[2J",),
                                                          None)
    finally:
        logging.setLogRecordFactory(previous)
    assert record.getMessage() == "refused /queue/data?session_hash=a\\nb\\x1b[2J"
    assert printable("tab\there\u2028") == "tab\\there\\u2028"
