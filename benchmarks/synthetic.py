"""Generated data: a large corpus made of real sentences, and clustered vectors.

Corpus: articles whose paragraphs are one short sentence each, made by joining
the first 3-7 words of one real sentence to the last 3-7 words of another, so
the vocabulary and tokens are those of the real articles and few sentences
repeat. Paragraphs are short on purpose: a chunk costs little to embed, so the
build's work besides embedding (reading, splitting, BM25, files, checksums)
weighs as much as it can against the floor, and 20,000 chunks embed within
the time of `make bench`. Every chunk is then also a sentence with the same
text, as in one-sentence news paragraphs (51 of the 81 real chunks).

Vectors: unit vectors in clusters, the way sentence embeddings sit in topics.
Topic centres, sub-topic centres around them, points around those; the noise
has a decaying spectrum (dimension i has scale i^-1/2), as real embeddings
use few directions much and most little. Queries are drawn the same way and
are not in the base set.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from rag.ingest.chunking import split_documents_into_sentences
from rag.ingest.corpus import load_corpus

WORDS_FROM_EACH = (3, 7)
PARAGRAPHS_PER_ARTICLE = 40
_INNER_STOP = tuple(".!?:;")


def write_corpus(source_dir: Path, target_dir: Path, chunks: int, seed: int = 0) -> int:
    """Write articles into `target_dir` with `chunks` one-chunk paragraphs; returns the paragraph count."""
    pieces = _sentence_pieces(source_dir)
    rng = random.Random(seed)
    target_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    article = 0
    while written < chunks:
        count = min(PARAGRAPHS_PER_ARTICLE, chunks - written)
        paragraphs = [_sentence(pieces, rng) for _ in range(count)]
        title = f"Synthetic article {article}"
        (target_dir / f"syn_{article:06d}.txt").write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n",
                                                         encoding="utf-8")
        written += count
        article += 1
    return written


def _sentence_pieces(source_dir: Path) -> list[list[str]]:
    """The words of the real sentences generated sentences are cut from."""
    documents, _ = load_corpus(source_dir)
    # Words that end a clause inside a sentence would let the sentence splitter cut it.
    pieces = [[w.rstrip(".!?:;") if i == len(words) - 1 else w for i, w in enumerate(words)]
              for words in (s.clean.split() for s in split_documents_into_sentences(documents))]
    return [words for words in pieces
            if len(words) >= 2 * WORDS_FROM_EACH[1] and not any(w.endswith(_INNER_STOP) for w in words)]


def _sentence(pieces: list[list[str]], rng: random.Random) -> str:
    head, tail = rng.choice(pieces), rng.choice(pieces)
    words = head[:rng.randint(*WORDS_FROM_EACH)] + tail[-rng.randint(*WORDS_FROM_EACH):]
    text = " ".join(words).rstrip(",\"'”’")
    return text[0].upper() + text[1:] + "."


def clustered_vectors(n: int, dimension: int = 384, seed: int = 0, block: int = 100_000) -> np.ndarray:
    """`n` unit float32 vectors in topic and sub-topic clusters (see the module docstring)."""
    rng = np.random.default_rng(seed)
    scale = np.arange(1, dimension + 1, dtype=np.float32) ** -0.5
    topics = _unit(rng.standard_normal((max(8, n // 5_000), dimension), dtype=np.float32) * scale)
    subtopics_per_topic = 50
    topic_of = rng.integers(0, len(topics), len(topics) * subtopics_per_topic)
    subtopics = _unit(topics[topic_of] + 0.8 * _unit(rng.standard_normal((len(topic_of), dimension),
                                                                         dtype=np.float32) * scale))
    out = np.empty((n, dimension), dtype=np.float32)
    for start in range(0, n, block):
        size = min(block, n - start)
        which = rng.integers(0, len(subtopics), size)
        noise = _unit(rng.standard_normal((size, dimension), dtype=np.float32) * scale)
        out[start:start + size] = _unit(subtopics[which] + 0.7 * noise)
    return out


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
