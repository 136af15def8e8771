"""`Settings`: every knob of the program in one frozen dataclass.

Defaults live here; `RAG_<FIELD>` environment variables override them, and CLI
flags override both (`Settings.load(env, **overrides)`). Stages receive the
built object and never read the environment themselves.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from rag.schema import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CORPUS = PROJECT_ROOT / "corpus"
# The indexes of corpora other than the shipped one, each in a folder of its own (`default_index_dir`).
OTHER_INDEXES = PROJECT_ROOT / "indexes"
ENCODERS = ("onnx", "torch")
_ORIGIN = re.compile(r"https?://[^/\s:]+(:\d{1,5})?")
# Thresholds outside these give no answers at all, or answers to anything, and a stop waiting more than
# ten minutes outlasts any service manager's patience: a typo, not a choice.
_RANGES = (("min_relevance", 0.0, 1.5), ("min_overlap", 0.0, 1.0), ("keep_ratio", 0.0, 1.0),
           ("shutdown_grace_s", 0, 600), ("request_timeout_s", 1, 300))
# What refusals call the corpus's documents: one word, as a sentence would use it ("pages", "articles").
_NOUN = re.compile(r"[^\W\d_][\w-]{0,29}")
ANSWERERS = ("extractive", "learned", "llm")
# The models packages ship, by the names RAG_MODEL takes; `rag.models.packaged` knows where each lives. Named
# here because settings sit below the models in the layers (.importlinter), like the answerers' names above.
MINILM = "all-MiniLM-L6-v2"
MPNET = "all-mpnet-base-v2"
KNOWN_MODELS = (MINILM, MPNET)
DEFAULT_MODEL = MINILM


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = SHIPPED_CORPUS
    # Unset (None), the corpus's own folder (`default_index_dir`): `index/` for the shipped corpus, another for any
    # other, so that building one corpus never replaces another's index.
    index_dir: Path = None  # type: ignore[assignment]
    # A model a package ships (KNOWN_MODELS): "all-MiniLM-L6-v2"
    # (the default) or "all-mpnet-base-v2" (assembled by `make install`).
    model: str = DEFAULT_MODEL
    # A local sentence-transformers model folder; when set, it overrides `model`.
    model_path: str = ""
    # What runs the model: "onnx" (ONNX Runtime on the export `make install` made; no torch in the process) or
    # "torch" (sentence-transformers, the reference the export is checked against).
    encoder: str = "onnx"
    # Chunks never cross a paragraph; a paragraph longer than this is split.
    chunk_size: int = 700
    chunk_overlap: int = 100
    embed_batch_size: int = 64
    # ONNX Runtime's threads for one encoding (2 measured fastest on 2 cores, README); 1 where processes share cores.
    onnx_threads: int = 2
    k: int = 20  # passages handed to the answerer (it reads their sentences)
    candidates: int = 50  # per retriever, before fusion
    passages_listed: int = 20  # passages an Answer lists for inspection
    max_per_doc: int = 3  # diversification: chunks of one article in the top k
    rrf_k: int = 60  # reciprocal-rank-fusion damping
    # Extractive answerer: a sentence below this relevance means "not in the
    # articles"; the others must come close to the best one to be added.
    min_relevance: float = 0.4
    min_overlap: float = 0.2  # share of the question's (idf-weighted) words the best sentence must have
    keep_ratio: float = 0.9
    # RAG_ANSWERER=learned: the fitted model it answers with (`python -m rag train`); empty: the packaged one.
    answerer_model: str = ""
    # The corpus's own word for its documents, as the chat's title, header and placeholders, refusals ("The pages
    # don't say…") and the server's log lines say it.
    documents_noun: str = "articles"
    max_answer_words: int = 60
    max_list_words: int = 120
    max_question_chars: int = 2000
    answerer: str = "extractive"  # the hand-set rules; "learned" (a fitted model, `rag.answer.learned`) or "llm"
    llm_url: str = ""  # OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout_s: float = 30.0
    host: str = "127.0.0.1"
    port: int = 7860
    root_path: str = ""
    public_url: str = ""  # prefix for citation URLs; empty keeps them relative
    cors_origins: tuple[str, ...] = ()
    frame_ancestors: tuple[str, ...] = ("'self'",)
    api_token: str = ""
    max_body_bytes: int = 64 * 1024
    queue_size: int = 64
    # How long stopping (Ctrl-C, a service manager's stop) waits for open requests. Every open chat tab holds a
    # Gradio heartbeat stream for as long as it lives; unbounded, a server with one tab open did not stop at
    # all (still waiting after 40 s, measured).
    shutdown_grace_s: int = 5
    # Seconds a client has to send a request's line and headers, and then its body: a connection trickling
    # either stays open otherwise (300 half-sent requests held 300 connections, measured).
    request_timeout_s: int = 15
    # Where retrieval reads the index: "faiss" (index_dir, loaded by each process), a Milvus server
    # shared by several processes ("http://host:19530"), or a Milvus Lite folder ("milvus-lite:index/milvus.db").
    vector_store: str = "faiss"
    milvus_token: str = ""  # "user:password" or an API key, when the Milvus server requires one
    # Readers' ratings of answers (rag.serve.feedback): an append-only ratings.jsonl in this folder.
    feedback_dir: Path = PROJECT_ROOT / "feedback"

    def __post_init__(self) -> None:
        if self.index_dir is None:
            object.__setattr__(self, "index_dir", default_index_dir(self.corpus_dir))
        positive = ("chunk_size", "embed_batch_size", "onnx_threads", "k", "candidates", "passages_listed", "max_per_doc",
                    "max_answer_words", "max_list_words", "max_question_chars", "queue_size", "rrf_k",
                    "max_body_bytes")
        for name in positive:
            value = getattr(self, name)
            if value < 1:
                raise ConfigError(f"{name}={value} must be at least 1; set RAG_{name.upper()} to a positive number")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError(
                f"chunk_overlap={self.chunk_overlap} must be between 0 and chunk_size-1 ({self.chunk_size - 1}); "
                "lower RAG_CHUNK_OVERLAP"
            )
        for name, low, high in _RANGES:
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"{name}={value} is outside {low}..{high}; set RAG_{name.upper()} within it "
                                  f"(the default is {getattr(Settings, name)})")
        if self.llm_timeout_s <= 0:
            raise ConfigError(f"llm_timeout_s={self.llm_timeout_s} must be above 0; set RAG_LLM_TIMEOUT_S in seconds")
        if not self.host or any(c.isspace() for c in self.host):
            raise ConfigError(f"host={self.host!r} is no host name; set RAG_HOST, e.g. 127.0.0.1 or 0.0.0.0")
        if self.public_url and not self.public_url.startswith(("http://", "https://", "/")):
            raise ConfigError(f"public_url={self.public_url!r} must start with http://, https:// or /; "
                              "set RAG_PUBLIC_URL to where users reach this server, e.g. https://wiki.example.com/qa")
        for origin in self.cors_origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ConfigError(f"cors_origins has {origin!r}, which is no origin (scheme://host[:port], no path); "
                                  "set RAG_CORS_ORIGINS to a comma-separated list such as https://wiki.example.com")
        if not 0 < self.port < 65536:
            raise ConfigError(f"port={self.port} is not a TCP port (1-65535); set RAG_PORT")
        if self.model not in KNOWN_MODELS:
            raise ConfigError(f"model={self.model!r} is not a packaged model; use one of "
                              f"{', '.join(map(repr, KNOWN_MODELS))} (RAG_MODEL), or set RAG_MODEL_PATH "
                              "to a sentence-transformers model folder")
        if not _NOUN.fullmatch(self.documents_noun):
            raise ConfigError(f"documents_noun={self.documents_noun!r} is not one word; set RAG_DOCUMENTS_NOUN to "
                              "what the corpus's documents are called, e.g. pages or articles")
        if self.encoder not in ENCODERS:
            raise ConfigError(f"encoder={self.encoder!r} is unknown; set RAG_ENCODER to one of "
                              f"{', '.join(map(repr, ENCODERS))}")
        if self.answerer not in ANSWERERS:
            raise ConfigError(f"answerer={self.answerer!r} is unknown; use 'extractive', 'learned' or 'llm'")
        if self.llm_url and not self.llm_url.startswith(("http://", "https://")):
            raise ConfigError(f"llm_url={self.llm_url!r} is no HTTP address; set RAG_LLM_URL to an OpenAI-compatible "
                              "base URL starting with http:// or https://, e.g. http://127.0.0.1:8000/v1")
        if self.answerer == "llm" and not self.llm_url:
            raise ConfigError("answerer='llm' needs an endpoint; set RAG_LLM_URL to an OpenAI-compatible base URL")
        if not is_vector_store(self.vector_store):
            raise ConfigError(f"vector_store={self.vector_store!r} is no store; set RAG_VECTOR_STORE to 'faiss', "
                              "a Milvus address such as http://127.0.0.1:19530, or a Milvus Lite file such as "
                              "milvus-lite:index/milvus.db")
        if self.root_path and (not self.root_path.startswith("/") or self.root_path.endswith("/")):
            raise ConfigError(f"root_path={self.root_path!r} must start with '/' and not end with one, e.g. '/qa'")

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then `RAG_*` variables of `env` (os.environ if None), then non-None overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"RAG_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(f.name, f.type, raw)
        values.update({name: value for name, value in overrides.items() if value is not None})
        for name in ("corpus_dir", "index_dir", "feedback_dir"):
            if name in values:
                values[name] = Path(values[name])
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """These settings with `changes`; the index folder stays where it is unless `index_dir` is among them."""
        return dataclasses.replace(self, **changes)

    @property
    def shipped_corpus(self) -> bool:
        """Whether the corpus is the one the project ships (the articles of `corpus/`), by whatever path."""
        return same_folder(self.corpus_dir, SHIPPED_CORPUS)


def default_index_dir(corpus_dir: Path) -> Path:
    """Where a corpus's index lives when RAG_INDEX_DIR and --index are unset: `index/` for the shipped `corpus/`,
    `indexes/<folder name>-<8 hex digits of its absolute path>/` for any other (two wikis both called `export`
    get one each)."""
    if same_folder(corpus_dir, SHIPPED_CORPUS):
        return PROJECT_ROOT / "index"
    absolute = Path(os.path.abspath(corpus_dir.expanduser()))
    name = re.sub(r"[^\w.-]", "_", absolute.name) or "corpus"
    return OTHER_INDEXES / f"{name}-{hashlib.sha256(str(absolute).encode()).hexdigest()[:8]}"


def same_folder(a: Path, b: Path) -> bool:
    """Whether two paths name one folder (symlinks followed; a path that does not exist is compared as written)."""
    return os.path.realpath(a.expanduser()) == os.path.realpath(b.expanduser())


MILVUS_LITE_PREFIX = "milvus-lite:"


def is_vector_store(value: str) -> bool:
    """'faiss', an http(s) address with a host, or 'milvus-lite:' and a path ending in .db (pymilvus's rule)."""
    if value == "faiss":
        return True
    if value.startswith(MILVUS_LITE_PREFIX):
        return value.endswith(".db") and len(value) > len(MILVUS_LITE_PREFIX) + len(".db")
    return bool(re.fullmatch(r"https?://[^/\s:]+(:\d{1,5})?/?", value))


def _parse(name: str, type_name: Any, raw: str) -> Any:
    type_name = str(type_name)
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name == "Path":
            return Path(raw)
        if type_name.startswith("tuple"):
            return tuple(item.strip() for item in raw.split(",") if item.strip())
    except ValueError:
        raise ConfigError(f"RAG_{name.upper()}={raw!r} is not a valid {type_name}") from None
    return raw
