"""A wiki export as the corpus: Markdown and HTML pages in subfolders, read, asked, updated incrementally."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from rag.cli import main
from rag.config import Settings
from rag.index.files import current_build
from rag.ingest.chunking import chunk_documents, split_documents_into_sentences
from rag.ingest.corpus import load_corpus
from rag.ingest.pages import readable
from rag.models.embedding import Embedder
from rag.pipeline import RAG, ensure_index
from rag.progress import Meter
from rag.schema import CorpusError
from tests.conftest import DATA

WIKI = DATA / "wiki"
CHROME = ("Header banner", "Search the wiki", "Footer text", "Related pages", "script text", "styled away",
          "Handbook", "Projects", "logo")


@pytest.fixture(scope="module")
def wiki_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings.load(env={}, corpus_dir=WIKI, index_dir=tmp_path_factory.mktemp("wiki-index"))


@pytest.fixture(scope="module")
def wiki_rag(wiki_settings: Settings, embedder: Embedder) -> RAG:
    ensure_index(wiki_settings, embedder)
    return RAG(wiki_settings, embedder)


def _raw(doc_id: str) -> str:
    [path] = [p for p in WIKI.rglob("*") if p.is_file() and p.relative_to(WIKI).with_suffix("").as_posix() == doc_id]
    return path.read_bytes().decode("utf-8")


def test_pages_are_read_with_path_ids_metadata_and_no_chrome():
    documents, skipped = load_corpus(WIKI)
    assert skipped == []
    by_id = {d.doc_id: d for d in documents}
    assert sorted(by_id) == ["home", "projects/kite/overview", "team/handbook/leave-policy",
                             "team/handbook/onboarding"]
    onboarding, leave, kite = by_id["team/handbook/onboarding"], by_id["team/handbook/leave-policy"], \
        by_id["projects/kite/overview"]
    assert (onboarding.title, onboarding.date) == ("Onboarding for new engineers", "2024-03-01")  # front matter
    assert (by_id["home"].source, by_id["home"].url) == ("Example Corp wiki", "https://wiki.example/home")
    assert (leave.title, leave.date, leave.source) == ("Leave policy", "2024-01-15", "Example Corp wiki")
    assert kite.title == "Kite — the café ordering app"  # <title>, entities decoded
    bodies = {d.doc_id: [p.clean for p in d.body] for d in documents}
    assert "1 | Shadow the on-call engineer | Priya Raman" in bodies["team/handbook/onboarding"]  # a table row
    assert "Founders' Day | 12 June" in bodies["team/handbook/leave-policy"]
    assert bodies["projects/kite/overview"][0] == \
        "Kite™ was built by the R&D team in München & launched in Zürich on 3 May 2023."
    assert bodies["home"][0].startswith("This wiki is maintained by the documentation guild, which meets")  # ** gone
    every_text = " ".join(p.clean for d in documents for p in d.paragraphs)
    for chrome in CHROME:
        assert chrome not in every_text
    assert "title:" not in every_text and "](" not in every_text and "&amp;" not in every_text


def test_every_span_maps_back_to_the_raw_file_and_reads_as_its_quote():
    documents, _ = load_corpus(WIKI)
    units = [*chunk_documents(documents, 700, 100), *split_documents_into_sentences(documents)]
    assert len(units) > 30
    by_id = {d.doc_id: d for d in documents}
    for unit in units:
        raw = _raw(unit.doc_id)
        assert raw[unit.start:unit.end] == unit.text
        paragraph = next(p for p in by_id[unit.doc_id].body if p.n == unit.paragraph)
        shown = readable(by_id[unit.doc_id], paragraph)
        first = shown.offsets.index(unit.start)
        assert shown.text[first:first + len(unit.clean)] == unit.clean  # the quote is that span, as read
    entity = next(u for u in units if "München" in u.clean)
    assert "M&uuml;nchen" in entity.text and "&amp;" in entity.text


QUESTIONS = [
    ("What do new engineers collect from the IT desk?", "team/handbook/onboarding", "laptop"),
    ("How many days of paid leave do employees accrue per month?", "team/handbook/leave-policy", "2.5 days"),
    ("Which team built Kite?", "projects/kite/overview", "R&D team"),
    ("Who maintains the wiki?", "home", "documentation guild"),
]


@pytest.mark.parametrize(("question", "doc_id", "words"), QUESTIONS)
def test_answers_cite_pages_of_each_format(wiki_rag: RAG, question: str, doc_id: str, words: str):
    answer = wiki_rag.ask(question)
    assert not answer.refused
    assert any(c.doc_id == doc_id and words in c.clean for c in answer.citations)
    for citation in answer.citations:
        raw = _raw(citation.doc_id)
        assert raw[citation.start:citation.end] == citation.text
        assert citation.url.startswith(f"/source/{citation.doc_id}?start=")  # slashes stay readable


def test_deep_links_to_nested_pages_and_removed_pages(wiki_rag: RAG):
    from tests.servers import start_app

    from rag.serve.api import create_app

    answer = wiki_rag.ask("Which team built Kite?")
    cited = next(c for c in answer.citations if c.doc_id == "projects/kite/overview")
    running = start_app(create_app(wiki_rag))
    try:
        page = httpx.get(running.url.rstrip("/") + cited.url.split("#")[0], timeout=30)
        gone = httpx.get(running.url.rstrip("/") + "/source/team/handbook/old-page?start=1&end=5", timeout=30)
        detail = httpx.get(running.url.rstrip("/") + "/api/documents/team/handbook/onboarding", timeout=30)
    finally:
        running.stop()
    assert page.status_code == 200 and "<mark>Kite™ was built by the R&amp;D team in München" in page.text
    assert gone.status_code == 404 and "no longer in the corpus" in gone.text
    assert detail.status_code == 200 and detail.json()["title"] == "Onboarding for new engineers"


# Everything a page shows or says to a screen reader: its title, its text, and the text of its attributes.
SHOWN_WORDS = """() => [document.title, document.body.innerText,
    ...[...document.querySelectorAll('[placeholder], [title], [aria-label], [alt]')].flatMap(
        el => ['placeholder', 'title', 'aria-label', 'alt'].map(a => el.getAttribute(a) || ''))].join('\\n')"""
REFUSED = "Who is the mayor of Tokyo?"


def test_a_wiki_in_the_browser_speaks_of_pages_never_of_articles_or_news(wiki_rag: RAG, embedder: Embedder, browser,
                                                                        tmp_path: Path):
    from tests.servers import ANSWER_TIMEOUT_MS, ask_in_page, serve_files, start_app

    from rag.serve.api import create_app

    with serve_files(tmp_path) as site:
        settings = wiki_rag.settings.replace(documents_noun="pages", frame_ancestors=("'self'", site))
        running = start_app(create_app(RAG(settings, embedder)))
        try:
            page = browser.new_page()
            page.goto(f"{running.url}/")
            page.locator("#rag-question textarea").wait_for()
            header = page.locator(".rag-corpus").inner_text()
            refusal = ask_in_page(page, REFUSED).locator(".rag-answer").inner_text()
            chat = page.evaluate(SHOWN_WORDS)
            widget = httpx.get(f"{running.url}/widget.js", timeout=30).text

            # The embed, as the widget puts it in a wiki's page.
            (tmp_path / "page.html").write_text(f'<h1>Team wiki</h1><script src="{running.url}/widget.js"></script>',
                                                encoding="utf-8")
            page.goto(f"{site}/page.html")
            frame_title = page.locator("iframe").get_attribute("title")
            frame = page.frame_locator("iframe")
            frame.locator("#rag-question textarea").fill(REFUSED)
            frame.locator("#rag-question textarea").press("Enter")
            frame.locator(".rag-reply").wait_for(timeout=ANSWER_TIMEOUT_MS)
            embed = next(f for f in page.frames if f.url.startswith(f"{running.url}/embed")).evaluate(SHOWN_WORDS)
            page.close()
        finally:
            running.stop()

    assert header.startswith("Answers come only from these 4 pages: ")
    assert refusal.startswith("The pages don't ")  # "…name the mayor."
    assert "Ask the pages" in chat and "Ask about the pages…" in chat
    assert frame_title == "Ask the pages" and '"Ask the pages"' in widget
    assert "Ask the pages" in embed and "The pages don't " in embed
    for shown in (chat, embed, widget):
        assert re.findall(r"[^\n]{0,40}(?:article|news)[^\n]{0,40}", shown, flags=re.IGNORECASE) == []


def test_bad_files_are_skipped_with_a_reason_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    corpus = tmp_path / "wiki"
    shutil.copytree(WIKI, corpus)
    (corpus / "binary.html").write_bytes(b"<p>\x00\x01\x02</p>")
    (corpus / "latin.md").write_bytes("caf\xe9".encode("latin-1"))
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "only-nav.html").write_text("<nav><a href=/>Home</a></nav>", encoding="utf-8")
    (corpus / "bad-front.md").write_text("---\ntitle: [unclosed\n---\nBody text here.\n", encoding="utf-8")
    (corpus / "big.md").write_text("Large page. " * 400, encoding="utf-8")
    monkeypatch.setattr("rag.ingest.corpus.MAX_FILE_BYTES", 4000)
    documents, skipped = load_corpus(corpus)
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert len(documents) == 4
    assert reasons["binary.html"].startswith("contains NUL bytes")
    assert reasons["latin.md"].startswith("not UTF-8 (byte 3 is 0xe9)")
    assert reasons["empty.md"] == "empty file"
    assert reasons["only-nav.html"] == "no body text"
    assert reasons["bad-front.md"].startswith("front matter is not valid YAML at line 2")
    assert reasons["big.md"].startswith("4800 bytes is over the 4000-byte limit")


def test_two_files_with_one_id_are_an_error_naming_both(tmp_path: Path):
    (tmp_path / "guide.md").write_text("# Guide\n\nSome text.\n", encoding="utf-8")
    (tmp_path / "guide.html").write_text("<p>Other text.</p>", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"guide\.html and .*guide\.md both have the document id 'guide'"):
        load_corpus(tmp_path)


def _vectors(index_dir: Path) -> dict[str, bytes]:
    build = current_build(index_dir)
    names = ("chunks.faiss", "sentences.npy", "words.npy", "words.json", "neighbours.json", "chunks.jsonl",
             "sentences.jsonl")
    return {name: (build / name).read_bytes() for name in names}


def test_an_incremental_build_embeds_only_new_texts_and_equals_a_full_rebuild(tmp_path: Path, embedder: Embedder):
    corpus = tmp_path / "wiki"
    shutil.copytree(WIKI, corpus)
    settings = Settings.load(env={}, corpus_dir=corpus, index_dir=tmp_path / "index")
    first = ensure_index(settings, embedder)
    assert first.reused == 0 and first.embedded > 0
    onboarding = corpus / "team/handbook/onboarding.md"
    # One paragraph edited, the rest of the page unchanged; one page removed; one page added.
    onboarding.write_text(onboarding.read_text(encoding="utf-8").replace("before nine", "before ten"),
                          encoding="utf-8")
    (corpus / "home.md").unlink()
    (corpus / "team/travel.md").write_text("# Travel\n\nTrains are booked through the travel desk.\n",
                                           encoding="utf-8")
    update = ensure_index(settings, embedder)
    assert update.rebuilt and update.reasons == ("the corpus changed",)
    # The edited paragraph (one chunk, one sentence) and the new page (one text): words aside, nothing else.
    texts_embedded = update.embedded
    assert 3 <= texts_embedded <= 3 + 6, texts_embedded
    assert update.reused > 30
    full = settings.replace(index_dir=tmp_path / "full-index")
    rebuilt = ensure_index(full, embedder, force=True)
    assert rebuilt.reused == 0
    assert _vectors(settings.index_dir) == _vectors(full.index_dir)  # byte for byte
    chunk_ids = [json.loads(line)["chunk_id"] for line in
                 (current_build(settings.index_dir) / "chunks.jsonl").read_text(encoding="utf-8").splitlines()]
    assert chunk_ids == list(range(len(chunk_ids)))  # reused pages' chunks renumbered in corpus order
    served = RAG(settings, embedder)
    assert "home" not in served.documents and "team/travel" in served.documents
    answer = served.ask("How are trains booked?")
    assert any(c.doc_id == "team/travel" for c in answer.citations)


def test_encoding_one_text_gives_the_same_bytes_whatever_is_encoded_with_it(embedder: Embedder):
    documents, _ = load_corpus(WIKI)
    texts = list(dict.fromkeys(s.clean for s in split_documents_into_sentences(documents)))
    together = embedder.encode_exact(texts)
    alone = np.stack([embedder.encode_exact([text])[0] for text in texts[:6]])
    assert together[:6].tobytes() == alone.tobytes()


def test_the_meter_shows_counts_and_time_left_and_a_log_gets_one_summary_line(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture[str]):
    stream = io.StringIO()
    meter = Meter(stream)
    meter(0, 1000)
    meter._started -= 10  # ten seconds into the work, long after the last redraw
    meter._drawn -= 10
    meter(500, 1000)
    meter(1000, 1000)
    shown = stream.getvalue()
    assert "embedding 500/1,000 texts (50%), about 10 s left" in shown
    assert shown.endswith("embedding 1,000/1,000 texts (100%)\x1b[K\n")

    corpus = tmp_path / "wiki"
    shutil.copytree(WIKI, corpus)
    (corpus / "empty.md").write_bytes(b"")
    command = ["--corpus", str(corpus), "--index", str(tmp_path / "index"), "index"]
    # `python -m rag index` in this process: its stdout (captured) is no terminal, as in CI or a log file.
    assert main(command) == 0
    logged = capsys.readouterr().out
    lines = logged.splitlines()
    assert "\r" not in logged
    assert [line for line in lines if line.startswith("built   ")][0].endswith(" s") and len(lines) == 4 + 1 + 1
    assert f"skipped {corpus / 'empty.md'}: empty file" in lines
    (corpus / "new.md").write_text("A new page about the coffee machine.\n", encoding="utf-8")
    assert main([*command, "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"skipped {corpus / 'empty.md'}: empty file"]
