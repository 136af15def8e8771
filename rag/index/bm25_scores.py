"""`Bm25Scores`: a saved bm25s index, read and searched without importing bm25s.

bm25s builds the index (`rag.index.files`, at build time only) and saves its
precomputed scores as three plain arrays (a CSC matrix: per term, the chunks
holding it and their scores), a JSON vocabulary and JSON parameters. Searching
them is a sum per chunk of the query terms' scores and a top-k, which is all
this module does, with bm25s's own numpy operations in bm25s's own order, so
rankings and scores are bm25s's to the bit (tests/models/test_onnx.py compares them).
Importing bm25s would import SciPy: a third of a second of a cold `ask`.

Only what `rag.index.files` builds is read: the "lucene" method, whose scores need
no non-occurrence term; another method is refused with the fix.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.schema import IndexCorruptError

READ_METHODS = ("lucene", "robertson", "atire")  # the methods bm25s saves no non-occurrence scores for


class Bm25Scores:
    """The part of `bm25s.BM25` that `rag.index.chunk_store` uses: `vocab_dict` and `retrieve`."""

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, vocab_dict: dict[str, int],
                 num_docs: int, dtype: str) -> None:
        self.data, self.indices, self.indptr = data, indices, indptr
        self.vocab_dict = vocab_dict
        self.num_docs = num_docs
        self.dtype = np.dtype(dtype)

    @classmethod
    def load(cls, folder: Path) -> Bm25Scores:
        """The files bm25s saved in `folder`; a file that cannot be read raises what reading it raised
        (OSError, ValueError: `rag.index.files.load_index` names the build and the fix), never unpickles."""
        params = json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
        vocab = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
        arrays = [np.load(folder / f"{name}.csc.index.npy", allow_pickle=False)
                  for name in ("data", "indices", "indptr")]
        if params.get("method") not in READ_METHODS:
            raise IndexCorruptError(f"{folder} holds BM25 method {params.get('method')!r}, this reader reads "
                                    f"{', '.join(READ_METHODS)}; run `python -m rag index --force`")
        return cls(*arrays, vocab, int(params["num_docs"]), params.get("dtype", "float32"))

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """Each chunk's BM25 score for `terms` (a term not in the vocabulary counts nothing)."""
        ids = np.asarray([self.vocab_dict[t] for t in terms if t in self.vocab_dict], dtype=self.indptr.dtype)
        scores = np.zeros(self.num_docs, dtype=self.dtype)
        starts, ends = self.indptr[ids], self.indptr[ids + 1]
        for start, end in zip(starts, ends, strict=True):
            np.add.at(scores, self.indices[start:end], self.data[start:end])
        return scores

    def retrieve(self, queries: Sequence[Sequence[str]], k: int, show_progress: bool = False,
                 n_threads: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, scores), each of shape (len(queries), k), best first: bm25s's `retrieve(...)` of a
        `sorted=True` numpy selection. `show_progress` and `n_threads` are accepted for its signature."""
        ids, scores = [], []
        for terms in queries:
            query_scores = self.scores(terms)
            top = np.argpartition(query_scores, -k).take(indices=range(-k, 0))
            top_scores = np.take(query_scores, top)
            order = np.flip(np.argsort(top_scores))
            ids.append(top[order])
            scores.append(top_scores[order])
        return np.array(ids), np.array(scores)
