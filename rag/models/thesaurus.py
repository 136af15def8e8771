"""A thesaurus for the readers' words that no article uses.

`rag.models.vocabulary` gives each word of the articles the article words the model
puts closest to it, so a reader's "against" meets the articles' "opposition".
A reader's word that no article uses ("faster", "objected", "boss") has no
neighbours there: only words embedded at build time have them. Embedding a
question's unknown words when it is asked would cost a second model call
(measured: 23 ms for three words, against 29 ms for the question itself, and
an answer may take 1.5 times one query embedding in all).

So the install step (`python -m rag.models install`) embeds, once, every whole
word of the default model's tokenizer vocabulary (about 21,000 English words
of three letters or more) and keeps, for each word's term, the terms whose
words come within NEIGHBOUR_MIN of it: a thesaurus of general English, the
same for every corpus. When a question's term is in no article, the answerer
takes the first of its thesaurus neighbours that the articles hold
(`SentenceStore.neighbours_of`): "faster" → "quick", which meets "allow them
to quickly resolve issues".

It is made with all-MiniLM-L6-v2 whichever model serves: it is a list of
words with MiniLM's cosines as their closeness, and nothing in it has to be
compared with the serving model's vectors.
Names stay out at query time (a reader's "Osaka" is no stand-in for Tokyo):
the tokenizer is lower-cased, so only the question's own capitals tell them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from rag.models.terms import same_word_family, word_terms
from rag.models.vocabulary import NEIGHBOUR_MIN

log = logging.getLogger(__name__)

VERSION = 2  # 2: neighbours of fewer than three letters left out
MIN_NEIGHBOUR_LENGTH = 3  # "be", "uk": stems too short to stand for a reader's word
# The code a thesaurus is made by: a change to any of it makes the installed one stale (`is_current`).
_MADE_BY = ("thesaurus.py", "terms.py", "vocabulary.py")
CANDIDATES = 24  # closest words looked at for each word; those at NEIGHBOUR_MIN or more are kept
KEPT_PER_TERM = 12  # a corpus holds few of them, so more are kept than a question term uses
ENCODE_BATCH = 512  # single words: large batches, little padding
_WHOLE_WORD = re.compile(r"[a-z]{3,}")

Thesaurus = Mapping[str, tuple[tuple[str, float], ...]]


def whole_words(vocabulary: Mapping[str, int]) -> list[str]:
    """The tokenizer entries that are whole lower-case words of three letters or more, in token-id order."""
    return [word for word, _ in sorted(vocabulary.items(), key=lambda item: item[1]) if _WHOLE_WORD.fullmatch(word)]


def make_thesaurus(words: Sequence[str], vectors: np.ndarray) -> dict[str, list[tuple[str, float]]]:
    """Each term of `words` with the terms of the other words at cosine NEIGHBOUR_MIN or more, closest first.

    `vectors` are the words' unit vectors, row for row. Words of one family ("run", "runs") pool their
    neighbours under their term, and a family's own words are no neighbours of it.
    """
    import faiss

    word_term = [word_terms(word) for word in words]
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    similarities, ids = index.search(np.ascontiguousarray(vectors, dtype=np.float32), min(CANDIDATES + 1, len(words)))
    best: dict[str, dict[str, float]] = {}
    for row, found in enumerate(word_term):
        if len(found) != 1:  # a stop word, or a word that stems into two terms
            continue
        term = found[0]
        close = best.setdefault(term, {})
        for similarity, other in zip(similarities[row], ids[row], strict=True):
            if other < 0 or similarity < NEIGHBOUR_MIN or len(word_term[other]) != 1:
                continue
            neighbour = word_term[other][0]
            if same_word_family(term, neighbour) or len(neighbour) < MIN_NEIGHBOUR_LENGTH:
                continue
            close[neighbour] = max(close.get(neighbour, 0.0), round(float(similarity), 4))
    return {term: sorted(close.items(), key=lambda item: (-item[1], item[0]))[:KEPT_PER_TERM]
            for term, close in sorted(best.items()) if close}


def write(path: Path, thesaurus: Mapping[str, Sequence[tuple[str, float]]], model: str, weights_sha256: str) -> None:
    """The thesaurus as JSON, written beside `path` and renamed over it (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"version": VERSION, "model": model, "weights_sha256": weights_sha256, "neighbour_min": NEIGHBOUR_MIN,
               "made_by": code_digest(), "terms": thesaurus}
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(payload, out, ensure_ascii=False, separators=(",", ":"))
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from a server run as another user
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def code_digest() -> str:
    """SHA-256 of the modules a thesaurus is made by (their stemming is its keys)."""
    digest = hashlib.sha256()
    for name in _MADE_BY:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def is_current(path: Path, weights_sha256: str) -> bool:
    """Whether `path` holds a thesaurus made by this code with the model whose weights hash so."""
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(header, dict) and header.get("version") == VERSION
            and header.get("weights_sha256") == weights_sha256 and header.get("neighbour_min") == NEIGHBOUR_MIN
            and header.get("made_by") == code_digest())


class _Entries(Mapping[str, tuple[tuple[str, float], ...]]):
    """The thesaurus as read, each entry typed when first asked for: a one-shot `ask` looks up a few words, and
    typing all eleven thousand entries at load cost it 0.16 s. An entry of the wrong shape has no neighbours."""

    def __init__(self, raw: dict) -> None:
        self._raw = raw
        self._typed: dict[str, tuple[tuple[str, float], ...]] = {}

    def __getitem__(self, term: str) -> tuple[tuple[str, float], ...]:
        typed = self._typed.get(term)
        if typed is None:
            close = self._raw[term]  # KeyError for a term it does not hold, as a dict
            try:
                typed = tuple((str(n), float(c)) for n, c in close)
            except (TypeError, ValueError):
                typed = ()
            self._typed[term] = typed
        return typed

    def __contains__(self, term: object) -> bool:
        return term in self._raw

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


_loaded: dict[Path, Thesaurus] = {}
_loading = threading.Lock()


def load(path: Path) -> Thesaurus:
    """The thesaurus at `path`, read once per process; empty, with a warning, when it is missing or unreadable.

    Without it the answer still comes, only a reader's words that no article uses match nothing, as they
    did before the thesaurus existed. A failed read is not remembered: the next build a server loads
    picks up a thesaurus installed meanwhile.
    """
    with _loading:
        if path in _loaded:
            return _loaded[path]
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if payload.get("version") != VERSION:
                raise ValueError(f"version {payload.get('version')!r}, expected {VERSION}")
            if not isinstance(payload["terms"], dict):
                raise TypeError(f"its terms are {type(payload['terms']).__name__}, not an object")
            table = _Entries(payload["terms"])
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
            log.warning("no thesaurus for readers' words (%s: %s); run `make install` to make it", path, err)
            return {}
        _loaded[path] = table
        return table
