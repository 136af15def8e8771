"""HTML of the source view (`/source/<doc_id>`) and of one highlighted paragraph.

The view shows an article the way a reader wants it: headings as headings,
each body paragraph as `<p id="p<n>">` in its readable form (`Paragraph.clean`:
markdown links reduced to their words, page-break bylines cut out),
boilerplate left out. A highlight is given as a raw character range
(`?start=&end=`, the offsets every `Citation` carries); it is mapped onto the
readable text with the character map of `rag.ingest.pages.readable`, and the readable
characters that came from `raw[start:end]` are wrapped in `<mark>`.

Every string taken from an article goes through `html.escape` and nothing
else: an article holding `<script>`, `<img onerror>` or a markdown image
shows them as text. The page loads one stylesheet from this server and
nothing more; the API sends a Content-Security-Policy that forbids the rest.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from rag.ingest.pages import readable
from rag.schema import Document, Paragraph

STYLESHEET = "/rag-static/source.css"
NOT_FOUND_LISTED = 50  # a wiki has thousands of pages; the 404 page lists the first ones


def paragraph_html(document: Document, paragraph: Paragraph, start: int | None = None,
                   end: int | None = None) -> str:
    """The paragraph's readable text, escaped, with the characters of raw[start:end] in `<mark>`."""
    shown = readable(document, paragraph)
    text = shown.text
    if start is None or end is None:
        return escape(text)
    inside = [start <= offset < end for offset in shown.offsets]
    parts: list[str] = []
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and inside[j] == inside[i]:
            j += 1
        run = text[i:j]
        if inside[i] and run.strip():
            # Spaces at the edges of the range stay outside, so the mark holds
            # exactly the cited words.
            stripped = run.strip()
            lead = run[:len(run) - len(run.lstrip())]
            trail = run[len(run.rstrip()):]
            parts.append(f"{escape(lead)}<mark>{escape(stripped)}</mark>{escape(trail)}")
        else:
            parts.append(escape(run))
        i = j
    return "".join(parts)


def meta_line(document: Document, *more: str) -> str:
    """'source · date · more…' as escaped text; what the article does not state is left out."""
    return " · ".join(escape(part) for part in (document.source, document.date, *more) if part)


def source_page(document: Document, start: int | None = None, end: int | None = None,
                root_path: str = "") -> str:
    """The whole article as an HTML page; `root_path` prefixes the stylesheet link."""
    highlight = _valid_range(document, start, end)
    body: list[str] = []
    marked: list[int] = []
    for paragraph in document.paragraphs:
        if paragraph.kind == "boilerplate":
            continue
        if paragraph.kind == "heading":
            # A headline is already the page's <h1>; a section heading that titles the page stays in its place.
            if paragraph.clean != document.title or body:
                body.append(f"<h2>{escape(paragraph.clean)}</h2>")
            continue
        overlaps = highlight is not None and paragraph.start < highlight[1] and highlight[0] < paragraph.end
        html = paragraph_html(document, paragraph, *(highlight if overlaps else (None, None)))
        if "<mark>" in html:
            marked.append(paragraph.n)
        body.append(f'<p id="p{paragraph.n}"><a class="pn" href="#p{paragraph.n}" '
                    f'aria-label="paragraph {paragraph.n}">{paragraph.n}</a> {html}</p>')
    return "".join([
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(document.title)}</title>",
        f'<link rel="stylesheet" href="{escape(root_path)}{STYLESHEET}">',
        "</head><body><main>",
        f"<header><h1>{escape(document.title)}</h1>",
        f'<p class="meta">{meta_line(document, f"{len(document.body)} paragraphs", document.doc_id)}</p>',
        _original_link(document),
        _highlight_note(start, end, highlight, marked),
        "</header><article>",
        "\n".join(body),
        "</article></main></body></html>\n",
    ])


def not_found_page(doc_id: str, known: list[str], root_path: str = "") -> str:
    """The 404 page of a deep link whose document is not (or no longer) in the corpus."""
    shown = known[:NOT_FOUND_LISTED]
    items = "".join(f'<li><a href="{escape(root_path)}/source/{escape(quote(d, safe="/"))}">{escape(d)}</a></li>'
                    for d in shown)
    more = f"<p>…and {len(known) - len(shown):,} more.</p>" if len(known) > len(shown) else ""
    return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>No such document</title>'
            f'<link rel="stylesheet" href="{escape(root_path)}{STYLESHEET}"></head><body><main>'
            f"<h1>No document {escape(doc_id)}</h1>"
            "<p>This document is no longer in the corpus (or never was): it may have been removed or renamed "
            "since the link was made.</p>"
            f"<p>The corpus holds {len(known):,} documents:</p><ul>{items}</ul>{more}</main></body></html>\n")


def _valid_range(document: Document, start: int | None, end: int | None) -> tuple[int, int] | None:
    if start is None or end is None or not 0 <= start < end <= len(document.raw):
        return None
    return start, end


def _highlight_note(start: int | None, end: int | None, highlight: tuple[int, int] | None,
                    marked: list[int]) -> str:
    if start is None and end is None:
        return ""
    if highlight is None or not marked:
        # A link made before the article changed can point past its end or at
        # left-out text; say so instead of highlighting nothing in silence.
        return (f'<p class="note">The highlighted range {escape(str(start))}–{escape(str(end))} '
                "is not in the readable text of this document.</p>")
    where = ", ".join(f'<a href="#p{n}">paragraph {n}</a>' for n in marked)
    return f'<p class="note">Highlighted: {where}.</p>'


def _original_link(document: Document) -> str:
    # Only web addresses become links: a `javascript:` URL in metadata stays text.
    if not document.url:
        return ""
    if document.url.startswith(("https://", "http://")):
        return (f'<p class="meta">Original: <a href="{escape(document.url)}" rel="noopener noreferrer">'
                f"{escape(document.url)}</a></p>")
    return f'<p class="meta">Original: {escape(document.url)}</p>'
