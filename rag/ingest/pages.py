"""Wiki pages of every format as `Document`s, and each paragraph's readable text with its raw map.

`.txt` articles are read by `rag.ingest.corpus.read_document` (the news rules);
`.md`/`.markdown` by `rag.ingest.markdown_page`, `.html`/`.htm` by `rag.ingest.html_page`.
A paragraph's readable text and its map back to the raw file are computed
again when needed (the source view; a build cuts a page into chunks right after
parsing it, while the parse is cached) rather than kept: a map costs
several bytes a character, too much to hold for a 100,000-page wiki, while
parsing one page again takes about a millisecond.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from rag.ingest.readable import ParsedPage
from rag.ingest.text import CleanText, clean_text, split_sentences
from rag.schema import Document, Paragraph

FORMATS = {".txt": "text", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}
_READERS = ("markdown", "html")
TITLE_WORDS = 12


def page_format(path: str | Path) -> str:
    # String operations, not a Path: this is asked several times for each page of a wiki.
    return FORMATS.get(os.path.splitext(os.fspath(path))[1].lower(), "")


def read_page(path: Path, doc_id: str, raw: str, meta: dict[str, object]) -> Document:
    """A Markdown or HTML page; `meta` (from a `.json` sidecar) overrides what the page states."""
    parsed = _parsed(page_format(path), raw)
    paragraphs: list[Paragraph] = []
    n = 0
    for block in parsed.blocks:
        start, end = block.readable.raw_span(0, len(block.readable.text))
        n += block.kind == "body"
        paragraphs.append(Paragraph(doc_id=doc_id, n=n if block.kind == "body" else 0, start=start, end=end,
                                    text=raw[start:end], kind=block.kind, clean=block.readable.text,
                                    segments=((start, end),)))
    return Document(doc_id=doc_id, path=str(path), title=str(meta.get("title") or parsed.title or opening_words(paragraphs)),
                    date=str(meta.get("date") or parsed.date), source=str(meta.get("source") or parsed.source),
                    raw=raw, paragraphs=tuple(paragraphs), url=str(meta.get("url") or parsed.url))


def readable(document: Document, paragraph: Paragraph) -> CleanText:
    """The paragraph as a reader sees it, each character mapped to its raw range."""
    kind = page_format(document.path)
    if kind in _READERS:
        found = _by_start(kind, document.raw).get(paragraph.start)
        if found is not None:
            return found
    return clean_text(document.raw, paragraph.segments or ((paragraph.start, paragraph.end),))


@lru_cache(maxsize=64)
def _parsed(kind: str, raw: str) -> ParsedPage:
    # Imported when a page is parsed: markdown-it and PyYAML cost a cold `ask`, which reads no page again.
    if kind == "markdown":
        from rag.ingest.markdown_page import read_markdown

        return read_markdown(raw)
    from rag.ingest.html_page import read_html

    return read_html(raw)


@lru_cache(maxsize=64)
def _by_start(kind: str, raw: str) -> dict[int, CleanText]:
    return {block.readable.offsets[0]: block.readable for block in _parsed(kind, raw).blocks}


def opening_words(paragraphs: list[Paragraph]) -> str:
    """A page without a title is named by the opening words of its first sentence."""
    body = next((p for p in paragraphs if p.kind == "body"), None)
    if body is None:
        return ""
    first_start, first_end = split_sentences(body.clean)[0]
    words = body.clean[first_start:first_end].rstrip(".!?").split()
    return " ".join(words) if len(words) <= TITLE_WORDS else " ".join(words[:TITLE_WORDS]) + "…"
