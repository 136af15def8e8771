"""Word neighbours: which of the articles' own words a reader's word stands for.

A reader asks "Who was against the office?"; the articles say "opposition".
The sentence embedding of a short question is too blunt to find that on its
own, and BM25 cannot. So at index time every word of the articles is embedded
alone with the same model, and each term keeps the few terms whose words come
closest (cosine at least NEIGHBOUR_MIN): "against" → "oppose", "anti",
"opposition". A question's term then also matches its neighbours, credited at
their similarity.

Deliberate limits: only the articles' own vocabulary has neighbours (a word no
article uses is embedded at query time by no one, which keeps answering at one
query embedding), the NEIGHBOUR_VOCABULARY most frequent terms are embedded
(a wiki's long tail of rare words costs build time and brings little), and
names are left out (Kashin is no stand-in for Kistanov).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import faiss
import numpy as np

from rag.models.embedding import Embedder
from rag.models.terms import name_terms, word_terms

NEIGHBOUR_MIN = 0.6
NEIGHBOURS_PER_TERM = 3
NEIGHBOUR_VOCABULARY = 20_000
_WORD = re.compile(r"\b[A-Za-z][a-z]{2,}\b")

Neighbours = dict[str, tuple[tuple[str, float], ...]]


@dataclass(frozen=True)
class WordVectors:
    """The words embedded for the neighbours and their vectors: the next build reuses them by word."""

    words: tuple[str, ...]
    vectors: np.ndarray


def word_neighbours(texts: Iterable[str], embedder: Embedder,
                    known: WordVectors | None = None) -> tuple[Neighbours, WordVectors]:
    """For each term of `texts`, the terms of other words that the model puts closest to it.

    Words in `known` are not embedded again: their vectors are taken as they are, which gives the same
    bytes as embedding them (`Embedder.encode_exact`), so the neighbours equal a full rebuild's.
    """
    texts = list(texts)
    surface: dict[str, Counter[str]] = {}
    for text in texts:
        for match in _WORD.finditer(text):
            found = word_terms(match.group(0))
            if len(found) == 1:
                forms = surface.get(found[0])
                if forms is None:
                    forms = surface[found[0]] = Counter()
                forms[match.group(0).lower()] += 1
    uses = {term: sum(forms.values()) for term, forms in surface.items()}
    # A name is no word with synonyms.
    names = name_terms(texts)
    vocabulary = [t for t in sorted(uses, key=lambda t: (-uses[t], t)) if t not in names]
    vocabulary = vocabulary[:NEIGHBOUR_VOCABULARY]
    if len(vocabulary) < 2:
        return {}, WordVectors((), np.zeros((0, embedder.dimension), dtype=np.float32))
    words = [surface[t].most_common(1)[0][0] for t in vocabulary]
    vectors = _vectors(words, embedder, known)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    similarities, ids = index.search(vectors, min(NEIGHBOURS_PER_TERM + 1, len(words)))
    neighbours: Neighbours = {}
    for row, term in enumerate(vocabulary):
        close = tuple((vocabulary[i], round(float(s), 4)) for s, i in zip(similarities[row], ids[row], strict=True)
                      if i >= 0 and i != row and s >= NEIGHBOUR_MIN)
        if close:
            neighbours[term] = close[:NEIGHBOURS_PER_TERM]
    return neighbours, WordVectors(tuple(words), vectors)


def _vectors(words: list[str], embedder: Embedder, known: WordVectors | None) -> np.ndarray:
    row_of = {word: row for row, word in enumerate(known.words)} if known is not None else {}
    missing = [word for word in words if word not in row_of]
    fresh = embedder.encode_exact(missing)
    fresh_row = {word: row for row, word in enumerate(missing)}
    vectors = np.empty((len(words), embedder.dimension), dtype=np.float32)
    for row, word in enumerate(words):
        vectors[row] = known.vectors[row_of[word]] if word in row_of else fresh[fresh_row[word]]
    return vectors
