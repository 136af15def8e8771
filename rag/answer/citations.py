"""Building `Citation`s and the deep links they carry (their JSON form is rag.answer.contract's)."""

from __future__ import annotations

from urllib.parse import quote

from rag.schema import Citation, Document


def source_url(doc_id: str, paragraph: int, start: int | None = None, end: int | None = None,
               prefix: str = "") -> str:
    """Deep link to the source view, anchored at the paragraph, highlight range in the query."""
    query = f"?start={start}&end={end}" if start is not None and end is not None else ""
    anchor = f"#p{paragraph}" if paragraph > 0 else ""
    return f"{prefix}/source/{quote(doc_id, safe='/')}{query}{anchor}"


def cite(n: int, document: Document, paragraph: int, start: int, end: int, clean: str, prefix: str = "") -> Citation:
    """Citation `[n]` of the raw range `[start, end)` of `document`, with its deep link."""
    return Citation(n=n, doc_id=document.doc_id, title=document.title, paragraph=paragraph, start=start, end=end,
                    text=document.raw[start:end], url=source_url(document.doc_id, paragraph, start, end, prefix),
                    clean=clean)
