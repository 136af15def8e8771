"""Reading an HTML page: title, metadata and body blocks, each mapped to raw offsets.

The parser is Python's own `html.parser.HTMLParser` (maintained with CPython,
lenient with broken markup like a browser's tokenizer), run with
`convert_charrefs=False` so that text and each entity arrive as separate
events at known raw positions. lxml and selectolax build trees faster, but
neither tells where in the file a piece of text came from, and every
citation needs that (`raw[start:end] == text`).

What is read, what is left out:

* the `<title>`, else the first `<h1>`, is the title; `<meta name="date">`
  (or `article:published_time`), `og:site_name` and `<link rel="canonical">`
  give date, source and url;
* paragraphs, list items, definition terms, captions, quotes, preformatted
  text and headings are blocks; a table row is one block, its cells
  separated by " | ";
* navigation, headers, footers, asides, forms, `<script>`, `<style>`,
  `<template>`, `<svg>`, and elements whose role, id or class says
  navigation, breadcrumbs, sidebar, menu or table of contents, are chrome
  and left out; so are images (their alt text too) and comments;
* entities and character references are decoded; inline markup (`<b>`,
  `<a>`, `<code>`) reads as its text.
"""

from __future__ import annotations

from html import unescape
from html.parser import HTMLParser

from rag.ingest.readable import TABLE_CELLS, Block, ParsedPage, ReadableBuilder
from rag.schema import ParagraphKind

_CHROME_TAGS = frozenset({"nav", "header", "footer", "aside", "script", "style", "noscript", "template", "form",
                          "button", "select", "svg", "iframe", "object", "head"})
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar"})
_CHROME_NAMES = frozenset({"nav", "navbar", "navigation", "breadcrumb", "breadcrumbs", "sidebar", "menu", "toc",
                           "footer", "header", "site-header", "site-footer", "skip-link", "mw-navigation",
                           "mw-panel", "mw-head", "printfooter", "catlinks"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCKS = frozenset({"p", "li", "dt", "dd", "caption", "figcaption", "blockquote", "pre", "div", "section",
                     "article", "main", "body", "table", "thead", "tbody", "tfoot", "tr", "ul", "ol", "dl",
                     "hr", "address", "details", "summary", "figure", "center"}) | _HEADINGS
_CELLS = frozenset({"td", "th"})
_VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "wbr", "source", "area", "col", "embed", "param",
                   "track", "base"})
_DATE_META = ("date", "dc.date", "dcterms.date", "dcterms.modified", "article:published_time", "last-modified")


def read_html(raw: str) -> ParsedPage:
    reader = _PageReader(raw)
    reader.feed(raw)
    reader.close()
    return reader.page()


class _PageReader(HTMLParser):
    def __init__(self, raw: str) -> None:
        super().__init__(convert_charrefs=False)
        self._raw = raw
        self._line_starts = [0] + [i + 1 for i, ch in enumerate(raw) if ch == "\n"]
        self._stack: list[tuple[str, bool]] = []  # open elements: (tag, is chrome)
        self._chrome_depth = 0
        self._blocks: list[Block] = []
        self._current = ReadableBuilder()
        self._kind: ParagraphKind = "body"
        self._in_row = False
        self._row_cells = 0
        self._title: ReadableBuilder | None = None
        self._title_text = ""
        self._first_h1 = ""
        self._meta: dict[str, str] = {}

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    # -- structure ---------------------------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        at = self._offset()
        if tag == "title" and not self._title_text:
            self._title = ReadableBuilder()
            return
        if tag == "meta":
            self._read_meta(dict(attrs))
        if tag == "link":
            values = dict(attrs)
            if (values.get("rel") or "").lower() == "canonical" and values.get("href"):
                self._meta.setdefault("url", values["href"] or "")
        if tag in _VOID:
            if tag == "br" and not self._chrome_depth:
                self._current.space(at)
            elif tag == "hr":
                self._flush()
            return
        chrome = tag in _CHROME_TAGS or _names_chrome(dict(attrs))
        self._stack.append((tag, chrome))
        self._chrome_depth += chrome
        if self._chrome_depth:
            return
        if tag == "tr":
            self._flush()
            self._in_row, self._row_cells = True, 0
        elif tag in _CELLS:
            if self._row_cells:
                self._current.decoded(TABLE_CELLS, at, at + 1)
            self._row_cells += 1
        elif tag in _BLOCKS and not self._in_row:
            self._flush()
            self._kind = "heading" if tag in _HEADINGS else "body"

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title is not None:
            self._title_text = self._title.build().text
            self._title = None
            return
        if not any(open_tag == tag for open_tag, _ in self._stack):
            return  # a stray end tag closes nothing
        while self._stack:
            open_tag, chrome = self._stack.pop()
            self._chrome_depth -= chrome
            if open_tag == tag:
                break
        if self._chrome_depth:
            return
        if tag == "tr" or (tag in ("table", "tbody", "thead", "tfoot") and self._in_row):
            self._flush()
            self._in_row = False
        elif tag in _BLOCKS and not self._in_row:
            if tag == "h1" and not self._first_h1:
                self._first_h1 = self._current.build().text
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # `<br/>` and friends: the same as the start tag of a void element.
        if tag in _VOID:
            self.handle_starttag(tag, attrs)

    # -- text ----------------------------------------------------------------------------------------------------
    def handle_data(self, data: str) -> None:
        target = self._target()
        if target is not None:
            start = self._offset()
            target.literal(self._raw, start, start + len(data))

    def handle_entityref(self, name: str) -> None:
        self._reference(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self._reference(f"&#{name};")

    def _reference(self, spelled: str) -> None:
        target = self._target()
        if target is None:
            return
        start = self._offset()
        # The reference runs to its `;`, or ends before the character that stopped it.
        end = start + len(spelled) if self._raw.startswith(spelled, start) else start + len(spelled) - 1
        decoded = unescape(spelled)
        if decoded == spelled:  # not an entity HTML knows: the text as written
            target.literal(self._raw, start, end)
        else:
            target.decoded(decoded, start, end)

    def _target(self) -> ReadableBuilder | None:
        if self._title is not None:
            return self._title
        return None if self._chrome_depth else self._current

    # -- results -------------------------------------------------------------------------------------------------
    def _read_meta(self, attrs: dict[str, str | None]) -> None:
        name = (attrs.get("name") or attrs.get("property") or "").lower()
        content = (attrs.get("content") or "").strip()
        if not content:
            return
        if name in _DATE_META:
            self._meta.setdefault("date", content[:10])
        elif name in ("og:site_name", "application-name"):
            self._meta.setdefault("source", content)
        elif name == "og:url":
            self._meta.setdefault("url", content)

    def _flush(self) -> None:
        if self._current:
            self._blocks.append(Block(self._kind, self._current.build()))
        self._current = ReadableBuilder()
        self._kind = "body"

    def page(self) -> ParsedPage:
        self._flush()
        return ParsedPage(title=self._title_text or self._first_h1, date=self._meta.get("date", ""),
                          source=self._meta.get("source", ""), url=self._meta.get("url", ""),
                          blocks=tuple(self._blocks))


def _names_chrome(attrs: dict[str, str | None]) -> bool:
    if (attrs.get("role") or "").lower() in _CHROME_ROLES:
        return True
    names = {(attrs.get("id") or "").lower(), *(attrs.get("class") or "").lower().split()}
    return not names.isdisjoint(_CHROME_NAMES)
