"""What a build remembers of each page it read, so the next build skips parsing unchanged pages.

A build stores, for every document, the digest of its file (and `.json`
sidecar) and what reading it gave: metadata and paragraphs (spans, kinds,
readable text). When the next build finds a file with the same digest, the
`Document` is rebuilt from that record and the raw file, without running the
Markdown or HTML parser again; on a 10,000-page wiki parsing is most of an
update's cost. The lifecycle only offers a record made by the same reader
(`READER_VERSION`) and format.
"""

from __future__ import annotations

import hashlib
from typing import Any

from rag.schema import Document, Paragraph


def page_digest(data: bytes, sidecar: bytes | None) -> str:
    digest = hashlib.sha256(data)
    digest.update(b"\0sidecar\0" + (sidecar if sidecar is not None else b"-"))
    return digest.hexdigest()


def to_record(document: Document, digest: str) -> dict[str, Any]:
    return {"doc_id": document.doc_id, "digest": digest, "title": document.title, "date": document.date,
            "source": document.source, "url": document.url,
            "paragraphs": [[p.n, p.start, p.end, p.kind, p.clean, [list(s) for s in p.segments]]
                           for p in document.paragraphs]}


def from_record(record: dict[str, Any], path: str, raw: str) -> Document:
    doc_id = record["doc_id"]
    # Positional arguments: this runs for every unchanged page of a wiki at each update.
    paragraphs = tuple(Paragraph(doc_id, n, start, end, raw[start:end], kind, clean, tuple(map(tuple, segments)))
                       for n, start, end, kind, clean, segments in record["paragraphs"])
    return Document(doc_id=doc_id, path=path, title=record["title"], date=record["date"], source=record["source"],
                    raw=raw, paragraphs=paragraphs, url=record["url"])
