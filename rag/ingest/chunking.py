"""Cutting documents into the units that are indexed: chunks and sentences.

Chunks are what retrieval ranks: paragraph-aligned (a chunk never crosses a
paragraph), with a long paragraph split by langchain's recursive splitter at
sentence, then clause, then word boundaries. Sentences are what an extractive
answer cites; they are embedded at index time too, so that answering costs a
single query embedding. Both carry raw-file spans mapped from clean text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from rag.ingest.pages import readable
from rag.ingest.text import split_sentences
from rag.schema import Chunk, Document, Paragraph, Sentence

if TYPE_CHECKING:
    from langchain_text_splitters import TextSplitter

_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]


def chunk_documents(documents: Iterable[Document], chunk_size: int, chunk_overlap: int) -> list[Chunk]:
    """Chunks of every body paragraph, numbered from 0 in corpus order."""
    # Imported here: langchain costs 0.15 s at start-up and only index builds split.
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size, chunk_overlap=chunk_overlap, separators=_SEPARATORS, keep_separator="end",
    )
    chunks: list[Chunk] = []
    for document in documents:
        for paragraph in document.body:
            for start, end, clean in _split_paragraph(document, paragraph, splitter, chunk_overlap):
                chunks.append(Chunk(
                    chunk_id=len(chunks), doc_id=document.doc_id, paragraph=paragraph.n,
                    start=start, end=end, text=document.raw[start:end], clean=clean,
                ))
    return chunks


def _split_paragraph(document: Document, paragraph: Paragraph, splitter: TextSplitter,
                     overlap: int) -> list[tuple[int, int, str]]:
    cleaned = readable(document, paragraph)
    pieces: list[tuple[int, int, str]] = []
    position = 0
    previous_length = 0
    # The splitter returns strings only; locate each one after the previous piece
    # (as langchain's own add_start_index does) to recover its offsets.
    for piece in splitter.split_text(cleaned.text):
        found = cleaned.text.find(piece, max(0, position + previous_length - overlap))
        if found < 0:
            found = cleaned.text.find(piece)
        position, previous_length = found, len(piece)
        start, end = cleaned.raw_span(found, found + len(piece))
        pieces.append((start, end, piece))
    return pieces


def split_documents_into_sentences(documents: Iterable[Document]) -> list[Sentence]:
    """Every sentence of every body paragraph, in corpus order."""
    sentences: list[Sentence] = []
    for document in documents:
        for paragraph in document.body:
            cleaned = readable(document, paragraph)
            for start, end in split_sentences(cleaned.text):
                raw_start, raw_end = cleaned.raw_span(start, end)
                sentences.append(Sentence(
                    doc_id=document.doc_id, paragraph=paragraph.n, start=raw_start, end=raw_end,
                    text=document.raw[raw_start:raw_end], clean=cleaned.text[start:end],
                ))
    return sentences


def page_units(document: Document, chunk_size: int, chunk_overlap: int) -> tuple[list[Chunk], list[Sentence]]:
    """One page's chunks (numbered from 0) and sentences."""
    return chunk_documents([document], chunk_size, chunk_overlap), split_documents_into_sentences([document])
