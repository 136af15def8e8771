"""`OnnxEmbedder`: the model's ONNX export run by ONNX Runtime, tokenised by `tokenizers`; no torch.

It is the `Embedder` of the query path (ask, eval, serve and the API) and of
builds: same methods, same fixed return type (float32 `(n, dimension)`,
normalised), vectors within cosine 0.99999 of sentence-transformers' (checked
at export, `rag.models.onnx_export`, and over the corpus by tests/models/test_onnx.py).
Starting it reads a tokenizer file and one ONNX graph: 0.2–0.4 s and about
200 MB where torch and sentence-transformers took 7 s and 500 MB.

What sentence-transformers would do is read from the model's own files, so
any sentence-transformers folder works the same way: the pooling from
`modules.json` and the Pooling module's `config.json` (mean, CLS, max or
mean-sqrt-len tokens), the token limit and lower-casing from
`sentence_bert_config.json`, the tokenizer from `tokenizer.json`. Vectors are
always normalised, as the torch path's `normalize_embeddings=True` does.

Session settings, and why (measured, README *Performance*): all graph
optimisations (ONNX Runtime fuses attention, layer norm and GELU); two
intra-op threads that sleep instead of spinning when idle (ONNX Runtime's
default spinning threads spun against everything else on this 2-core
machine: a query p50 about 2.5 times as long; one thread was half as fast
again); no memory arena and no memory pattern, since shapes change with every
query and an arena keeps the largest it ever saw, for no measured gain. One
run at a time (a lock, as on the torch path), so 32 clients cost no more
memory than one. The tokenizer is set up once and never
reconfigured, so threads sharing it cannot meet "Already borrowed".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from rag.models import onnx_record
from rag.models.embedding import EXACT_BATCHES_A_CALL, exact_batch
from rag.schema import ModelError

POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len")
INTRA_OP_THREADS = 2  # measured: benchmarks/onnx_settings.py, README "What each ONNX Runtime setting bought"


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"{path} is unreadable ({err}); the model folder is damaged, reinstall it "
                         "(`make install`) or set RAG_MODEL_PATH to a good folder") from None


def pooling_of(model_dir: Path) -> str:
    """The pooling the model's Pooling module is configured with; mean when the folder has none (as
    sentence-transformers does for a plain transformer folder)."""
    modules = _json(model_dir / "modules.json") or []
    folders = [m.get("path", "") for m in modules if str(m.get("type", "")).endswith(".Pooling")]
    config = _json(model_dir / folders[0] / "config.json") if folders else {}
    modes = [mode for mode in POOLING_MODES if config.get(f"pooling_mode_{mode}_token" if mode == "cls"
                                                          else f"pooling_mode_{mode}_tokens")]
    if len(modes) > 1 or any(config.get(key) for key in ("pooling_mode_weightedmean_tokens",
                                                          "pooling_mode_lasttoken")):
        raise ModelError(f"the model in {model_dir} pools by {modes or 'weighted mean or last token'}; the ONNX "
                         f"path reads one of {', '.join(POOLING_MODES)}; set RAG_ENCODER=torch for this model")
    return modes[0] if modes else "mean"


def token_limit(model_dir: Path) -> int:
    """The token limit sentence-transformers truncates at: `max_seq_length`, within the model's positions."""
    limits = [_json(model_dir / "sentence_bert_config.json").get("max_seq_length"),
              _json(model_dir / "tokenizer_config.json").get("model_max_length")]
    positions = _json(model_dir / "config.json").get("max_position_embeddings")
    if positions:  # RoBERTa-style models (mpnet) offset positions by the padding id + 1
        limits.append(positions - 2 if _json(model_dir / "config.json").get("model_type") in ("mpnet", "roberta")
                      else positions)
    usable = [int(n) for n in limits if isinstance(n, int | float) and 0 < n < 1e9]
    return min(usable) if usable else 512


class OnnxEmbedder:
    """Normalised float32 embeddings of queries and documents, safe to share across threads."""

    def __init__(self, model_dir: Path, batch_size: int = 64, graph: Path | None = None,
                 threads: int = INTRA_OP_THREADS) -> None:
        """`graph`: an export to run that is not yet published (the export's own check); else the verified one."""
        if graph is None:
            export = onnx_record.verified(model_dir)
            graph, graph_sha = export.graph, export.graph_sha256
        else:
            graph_sha = "unpublished"
        self.model_dir = model_dir
        self.batch_size = batch_size
        self._pooling = pooling_of(model_dir)
        self._lower = bool(_json(model_dir / "sentence_bert_config.json").get("do_lower_case"))
        try:
            self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except Exception as err:  # tokenizers raises a bare Exception for a missing or malformed file
            raise ModelError(f"cannot read the tokenizer {model_dir / 'tokenizer.json'}: {err}; the ONNX path "
                             "needs a fast tokenizer file (every sentence-transformers model has one)") from None
        self._tokenizer.enable_truncation(token_limit(model_dir))
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        options.log_severity_level = 3  # warnings about unused initialisers are the exporter's, not the user's
        try:
            self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped errors for a bad file
            raise ModelError(f"ONNX Runtime cannot load {graph}: {err}; run `make install` to export the "
                             "model again") from None
        self._inputs = [i.name for i in self._session.get_inputs()]
        unknown = set(self._inputs) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown:
            raise ModelError(f"{graph} takes inputs {sorted(unknown)} this embedder cannot give; "
                             "run `make install` to export the model again")
        self.dimension = int(self._session.get_outputs()[0].shape[-1])
        self.encoder = f"onnxruntime {ort.__version__}, graph sha256 {graph_sha[:16]}"
        self._lock = threading.Lock()

    def tokenizer_vocabulary(self) -> dict[str, int]:
        """The tokenizer's entries and their ids (the thesaurus is made of its whole words: rag/models/thesaurus.py)."""
        return dict(self._tokenizer.get_vocab())

    def _ids(self, texts: list[str]) -> list:
        return self._tokenizer.encode_batch([t.lower() if self._lower else t for t in texts])

    def _run(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        """Pooled, normalised vectors of one batch of token ids (padded with mask 0 where they differ)."""
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        with self._lock:
            hidden = self._session.run(None, {name: feed[name] for name in self._inputs})[0]
        if self._pooling == "cls":
            pooled = hidden[:, 0]
        elif self._pooling == "max":
            pooled = np.where(mask[:, :, None] > 0, hidden, np.float32(-1e9)).max(axis=1)
        else:
            weights = mask[:, :, None].astype(np.float32)
            counts = np.maximum(weights.sum(axis=1), np.float32(1e-9))
            pooled = (hidden * weights).sum(axis=1) / (np.sqrt(counts) if self._pooling == "mean_sqrt_len"
                                                       else counts)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))
        return np.ascontiguousarray(pooled / norms, dtype=np.float32)

    def _batch(self, encodings: list) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = e.attention_mask
            types[row, :len(e.ids)] = e.type_ids
        # Padding positions are masked out of attention and pooling, so which id fills them does not matter.
        return self._run(ids, mask, types)

    def encode_query(self, text: str) -> np.ndarray:
        """One query as a float32 vector of shape (dimension,): its own length, no padding."""
        return self._batch(self._ids([text]))[0]

    def encode_documents(self, texts: list[str], show_progress: bool = False,
                         batch_size: int | None = None) -> np.ndarray:
        """Texts as a float32 matrix of shape (len(texts), dimension), `batch_size` at a time, shortest
        together (so a batch pads little). `show_progress` is accepted for the interface and ignored."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self._ids(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        size = batch_size or self.batch_size
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), size):
            rows = order[start:start + size]
            out[rows] = self._batch([encodings[i] for i in rows])
        return out

    def encode_exact(self, texts: list[str], progress: Callable[[int], None] = lambda done: None) -> np.ndarray:
        """Like `encode_documents`, but each text's vector depends on that text alone.

        As in the torch path (`Embedder.encode_exact`): every batch holds `exact_batch(length)` texts of one
        token length (the last filled up with copies), so a batch has no padding and one shape per length,
        and a text's vector has the same bytes whatever else is encoded with it.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        encodings = []
        for start in range(0, len(texts), 4096):
            encodings += self._ids(texts[start:start + 4096])
        for i, e in enumerate(encodings):
            by_length.setdefault(len(e.ids), []).append(i)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        done = 0
        for length, rows in by_length.items():
            size = exact_batch(length)
            for start in range(0, len(rows), size * EXACT_BATCHES_A_CALL):
                part = rows[start:start + size * EXACT_BATCHES_A_CALL]
                for first in range(0, len(part), size):
                    batch = part[first:first + size]
                    filled = batch + [batch[-1]] * (size - len(batch))
                    out[batch] = self._batch([encodings[i] for i in filled])[:len(batch)]
                done += len(part)
                progress(done)
        return out
