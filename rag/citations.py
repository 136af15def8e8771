"""Building and serialising `Citation`s and `Answer`s, and the deep links they carry.

The JSON form of an `Answer` is the contract shared by the CLI (`--json`), the
HTTP API and evaluation reports (see DESIGN.md); `answer_to_dict` and
`answer_from_dict` are its only writer and reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from rag.schema import Answer, Chunk, Citation, Document, Passage


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


def citation_to_dict(citation: Citation) -> dict[str, Any]:
    return {
        "n": citation.n,
        "doc_id": citation.doc_id,
        "title": citation.title,
        "paragraph": citation.paragraph,
        "start": citation.start,
        "end": citation.end,
        "text": citation.text,
        "url": citation.url,
        "quote": citation.clean,
    }


def passage_to_dict(passage: Passage) -> dict[str, Any]:
    chunk = passage.chunk
    return {
        "rank": passage.rank,
        "score": round(float(passage.score), 6),
        "doc_id": chunk.doc_id,
        "paragraph": chunk.paragraph,
        "start": chunk.start,
        "end": chunk.end,
        "text": chunk.text,
        "chunk_id": chunk.chunk_id,
    }


def answer_to_dict(answer: Answer) -> dict[str, Any]:
    return {
        "question": answer.question,
        "answer": answer.text,
        "refused": answer.refused,
        "citations": [citation_to_dict(c) for c in answer.citations],
        "passages": [passage_to_dict(p) for p in answer.passages],
        "timings_ms": {name: round(ms, 2) for name, ms in answer.timings_ms.items()},
    }


def answer_from_dict(data: Mapping[str, Any]) -> Answer:
    """Inverse of `answer_to_dict` (chunk `clean` text is not part of the JSON)."""
    citations = tuple(
        Citation(n=int(c["n"]), doc_id=c["doc_id"], title=c.get("title", ""), paragraph=int(c["paragraph"]),
                 start=int(c["start"]), end=int(c["end"]), text=c["text"], url=c.get("url", ""),
                 clean=c.get("quote", ""))
        for c in data.get("citations", [])
    )
    passages = tuple(
        Passage(
            chunk=Chunk(chunk_id=int(p.get("chunk_id", -1)), doc_id=p["doc_id"], paragraph=int(p["paragraph"]),
                        start=int(p["start"]), end=int(p["end"]), text=p["text"]),
            score=float(p.get("score", 0.0)),
            rank=int(p["rank"]),
        )
        for p in data.get("passages", [])
    )
    return Answer(
        question=data["question"],
        text=data["answer"],
        citations=citations,
        passages=passages,
        refused=bool(data["refused"]),
        timings_ms=dict(data.get("timings_ms", {})),
    )
