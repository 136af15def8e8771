"""Reading the shipped articles: each quirk of scraped news handled."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from rag.config import PROJECT_ROOT
from rag.ingest.chunking import chunk_documents, split_documents_into_sentences
from rag.ingest.corpus import load_corpus, read_document
from tests.conftest import CORPUS

SINGLE_NEWLINE = "002_04b1042d44fdcd04"
BYLINES = "000_8a9c36b7067f3b95"
CAPTIONS = "001_2937925d5f1f2c3c"
DATE_MARKER = "003_b09e3f5b92ff1bf7"
HEADLINE = "004_089e00b1afc4a471"


@pytest.fixture(scope="module")
def documents():
    documents, skipped = load_corpus(CORPUS)
    assert skipped == []
    return {d.doc_id: d for d in documents}


# SHA-256 of the shared corpus's articles (../shared/corpus), pinned so the check runs without that folder.
SHARED_ARTICLES = {
    "000_8a9c36b7067f3b95.txt": "9472bc375e6ad00744e7abc1d77f8eaf7281ad7303f9323f00ef5fbe97f20aae",
    "001_2937925d5f1f2c3c.txt": "8a348f47fd58375fc0ca9c588ff05c2ffaf617b7cd997a4778ac28d4eaafcef7",
    "002_04b1042d44fdcd04.txt": "201321034d7ec351a563097a90459529437717aa1ea3d9aec1c44e02c2285be5",
    "003_b09e3f5b92ff1bf7.txt": "90ffc2d09068e7d2415099d81babd07ed7a12a7fb55cc2629933e36ff21ee860",
    "004_089e00b1afc4a471.txt": "dcf4852fd0a68055c7affe5f1204fc7654206050bdd715e1a532eb04af5d2cdc",
}


def sha256_of_articles(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.txt"))}


def test_corpus_ships_the_shared_articles_byte_for_byte():
    assert sha256_of_articles(CORPUS) == SHARED_ARTICLES
    # The pins stand in for ../shared/corpus; where that folder is beside the checkout, it must agree with them.
    shared = PROJECT_ROOT.parent / "shared" / "corpus"
    if shared.is_dir():
        assert sha256_of_articles(shared) == SHARED_ARTICLES


def test_every_paragraph_span_is_exact(documents):
    for document in documents.values():
        raw = (CORPUS / f"{document.doc_id}.txt").read_bytes().decode("utf-8")
        assert document.raw == raw
        for paragraph in document.paragraphs:
            assert raw[paragraph.start:paragraph.end] == paragraph.text


def test_single_newline_article_has_one_paragraph_a_line(documents):
    document = documents[SINGLE_NEWLINE]
    assert len(document.body) == 20
    assert document.body[4].clean == "The Nikkei Asia said the proposed office was due to open next year in Tokyo."


def test_bylines_and_subscription_block_are_boilerplate(documents):
    document = documents[BYLINES]
    boilerplate = [p.clean for p in document.paragraphs if p.kind == "boilerplate"]
    assert boilerplate.count("Written by Angeline Tan on June 12, 2023") == 3
    assert "Subscribe to the New American" in boilerplate
    assert "- Cancel anytime." in boilerplate
    assert "y-studio/iStock/Getty Images Plus" in boilerplate
    assert not any("Subscribe" in p.clean or "Written by" in p.clean for p in document.body)


def test_caption_bullets_with_credits_are_boilerplate(documents):
    document = documents[CAPTIONS]
    boilerplate = [p.clean for p in document.paragraphs if p.kind == "boilerplate"]
    assert boilerplate == ["• Jens Stoltenberg and Fumio Kishida", "• AP", "• © Takashi Aoyama/Pool Photo",
                           "• NATO Headquarters in Brussels", "• Gettyimages.ru", "• © Dursun Aydemir/Anadolu Agency"]


def test_sentence_cut_by_page_break_byline_is_rejoined(documents):
    paragraph = next(p for p in documents[BYLINES].body if "although they have attempted to" in p.clean)
    assert paragraph.clean.endswith("although they have attempted to discuss some aspects of their territorial disputes.")
    assert "Written by" in paragraph.text and "Written by" not in paragraph.clean
    assert len(paragraph.segments) == 2
    sentence = next(s for s in split_documents_into_sentences([documents[BYLINES]])
                    if s.clean.startswith("Tokyo and Moscow never signed"))
    assert sentence.clean.endswith("attempted to discuss some aspects of their territorial disputes.")
    assert documents[BYLINES].raw[sentence.start:sentence.end] == sentence.text


def test_section_headings_are_headings(documents):
    headings = [p.clean for p in documents[CAPTIONS].paragraphs if p.kind == "heading"]
    assert headings == ["Expanding cooperation", "Russia's position", "A warning sign"]
    assert [p.clean for p in documents[DATE_MARKER].paragraphs if p.kind == "heading"] == [
        "Growing closeness between Japan and NATO"]


def test_markdown_links_read_as_their_words(documents):
    paragraph = next(p for p in documents[BYLINES].body if "Macron" in p.clean)
    assert "French President Emmanuel Macron had expressed his opposition to NATO's plan" in paragraph.clean
    assert "[Macron had expressed his opposition](#)" in paragraph.text


@pytest.mark.parametrize(("doc_id", "title", "date"), [
    (BYLINES, "China Claims Most Asian States Oppose NATO Expansion to Indo-Pacific", "2023-06-12"),
    (HEADLINE, "US-led NATO’s attempt to open liaison office in Japan under fire", "2023-05-22"),
    # No headline: the first section heading names the article better than its first sentence cut off.
    (DATE_MARKER, "Growing closeness between Japan and NATO", "2023-05-25"),
    (CAPTIONS, "Expanding cooperation", ""),
    # No heading at all: the opening words, cut at a word boundary.
    (SINGLE_NEWLINE, "China said on Thursday \"high vigilance\" was needed in the face of…", ""),
])
def test_titles_and_dates(documents, doc_id, title, date):
    assert (documents[doc_id].title, documents[doc_id].date) == (title, date)


def test_a_title_never_ends_inside_a_word(documents):
    for document in documents.values():
        words = document.title.removesuffix("…").split()
        first = next(p for p in document.paragraphs if p.kind != "boilerplate").clean.split()
        assert document.title in {p.clean for p in document.paragraphs if p.kind == "heading"} or \
            words == first[:len(words)], document.title


def test_a_section_heading_that_titles_an_article_stays_in_its_source_view(documents):
    from rag.serve.source_view import source_page

    page = source_page(documents[CAPTIONS])
    assert "<h1>Expanding cooperation</h1>" in page and "<h2>Expanding cooperation</h2>" in page
    assert "<h2>US-led" not in source_page(documents[HEADLINE])  # a headline is the page's <h1> alone


def test_source_is_the_publication_a_subscription_block_names(documents):
    assert documents[BYLINES].source == "The New American"
    assert {documents[d].source for d in (CAPTIONS, SINGLE_NEWLINE, DATE_MARKER, HEADLINE)} == {""}


def test_date_marker_is_not_body_text(documents):
    first = documents[DATE_MARKER].body[0]
    assert first.clean.startswith("Amid the growing influence")


def test_sidecar_json_overrides_inferred_metadata(corpus_copy: Path):
    meta = {"title": "NATO Tokyo office: China reacts", "date": "2023-05-18", "source": "Example Wire",
            "url": "https://example.org/a"}
    (corpus_copy / f"{SINGLE_NEWLINE}.json").write_text(json.dumps(meta), encoding="utf-8")
    documents, _ = load_corpus(corpus_copy)
    document = next(d for d in documents if d.doc_id == SINGLE_NEWLINE)
    assert (document.title, document.date, document.source, document.url) == tuple(meta.values())


def test_no_chunk_or_sentence_contains_boilerplate(documents):
    chunks = chunk_documents(documents.values(), chunk_size=700, chunk_overlap=100)
    sentences = split_documents_into_sentences(documents.values())
    for unit in [*chunks, *sentences]:
        assert documents[unit.doc_id].raw[unit.start:unit.end] == unit.text
        for marker in ("Subscribe", "Written by", "Getty", "©", "What's Included"):
            assert marker not in unit.clean


def test_chunks_stay_inside_one_paragraph_and_cover_it(documents):
    chunks = chunk_documents(documents.values(), chunk_size=300, chunk_overlap=50)
    for document in documents.values():
        for paragraph in document.body:
            inside = [c for c in chunks if c.doc_id == document.doc_id and c.paragraph == paragraph.n]
            assert inside, paragraph.clean
            assert all(paragraph.start <= c.start < c.end <= paragraph.end for c in inside)
            assert all(len(c.clean) <= 300 for c in inside)
            assert min(c.start for c in inside) == paragraph.start
            assert max(c.end for c in inside) == paragraph.end


def test_hard_wrapped_lines_join_and_crlf_offsets_hold(tmp_path: Path):
    raw = "Title line here\r\n\r\nThe first paragraph is wrapped\r\nacross two lines.\r\n\r\nA second one.\r\n"
    path = tmp_path / "wrapped.txt"
    path.write_bytes(raw.encode("utf-8"))
    document = read_document(path, path.read_bytes().decode("utf-8"))
    assert [p.clean for p in document.body] == ["The first paragraph is wrapped across two lines.", "A second one."]
    for paragraph in document.paragraphs:
        assert raw[paragraph.start:paragraph.end] == paragraph.text
