"""How one index build lies in Milvus: the names of its collections and aliases, their fields and indexes.

A build is three collections, written once and never changed:

    <ns>_<build>_chunks     chunk_id, doc_id, paragraph, start, end, text (raw slice), clean, terms, vector, bm25
    <ns>_<build>_sentences  sentence_id, chunk_ids (the chunks it lies in), doc_id, paragraph, start, end, text,
                            clean, vector
    <ns>_<build>_meta       key -> value: the manifest, the word neighbours and the BM25 vocabulary, as JSON
                            cut into parts (a VARCHAR holds 64 KiB)

The alias `<ns>_current` names the meta collection of the build being
served, the counterpart of `index/CURRENT`; readers find the other two by
name. One alias, switched last, publishes all three at once. `<ns>_previous`
keeps the build before it alive until the next publication, so a server still
on it finishes its requests while its watch comes round.

`terms` holds the chunk's terms as the project makes them (rag/models/terms.py:
lower-cased, stop words out, Snowball-stemmed), space-separated; Milvus's
BM25 function scores them, with bm25s's k1 and b, so lexical rankings match
the FAISS build's and Milvus keeps the statistics as rows come and go.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

from pymilvus import CollectionSchema, DataType, Function, FunctionType, MilvusClient
from pymilvus.milvus_client import IndexParams

from rag.schema import ConfigError

NAMESPACE = "rag"
PARTS = ("chunks", "sentences", "meta")
VARCHAR_MAX = 65_535  # Milvus's limit for one VARCHAR value, in bytes
META_PART_CHARS = 16_000  # at most 4 bytes a character: a part always fits a VARCHAR
MAX_CHUNKS_PER_SENTENCE = 4_096  # Milvus's largest ARRAY capacity
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # as the FAISS build's; raised to the number of hits asked for when that is larger
BM25_K1, BM25_B = 1.5, 0.75  # bm25s's defaults, which the FAISS build's BM25 uses
_NAMESPACE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class BuildNames:
    namespace: str
    build_id: str

    @property
    def chunks(self) -> str:
        return f"{self.namespace}_{self.build_id}_chunks"

    @property
    def sentences(self) -> str:
        return f"{self.namespace}_{self.build_id}_sentences"

    @property
    def meta(self) -> str:
        return f"{self.namespace}_{self.build_id}_meta"

    @property
    def all(self) -> tuple[str, str, str]:
        return (self.chunks, self.sentences, self.meta)


def check_namespace(namespace: str) -> str:
    if not _NAMESPACE.fullmatch(namespace):
        raise ConfigError(f"Milvus namespace {namespace!r} is not a collection-name prefix; use letters, digits and "
                          "'_', starting with a letter, at most 64 characters")
    return namespace


def current_alias(namespace: str) -> str:
    return f"{namespace}_current"


def previous_alias(namespace: str) -> str:
    return f"{namespace}_previous"


def new_build_id() -> str:
    """Sorts by creation time, like the FAISS build ids, and is a valid part of a collection name.

    The suffix is the microsecond (six hex digits) and two random ones: builds published within one second
    still sort in the order they were made, which `drop_unaliased` relies on to drop only older ones.
    """
    now = time.time_ns()
    seconds, micro = divmod(now // 1000, 1_000_000)
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(seconds)) + f"_{micro:06x}" + uuid.uuid4().hex[:2]


def build_of(namespace: str, collection: str) -> str | None:
    """The build id in a collection name of `namespace`, None for any other collection."""
    match = re.fullmatch(rf"{re.escape(namespace)}_(\d{{8}}T\d{{6}}_[0-9a-f]{{8}})_({'|'.join(PARTS)})", collection)
    return match.group(1) if match else None


def chunk_schema(dimension: int) -> tuple[CollectionSchema, IndexParams]:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("chunk_id", DataType.INT64, is_primary=True)
    _add_span_fields(schema)
    schema.add_field("terms", DataType.VARCHAR, max_length=VARCHAR_MAX, enable_analyzer=True,
                     analyzer_params={"tokenizer": "standard"})
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="terms_bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                 output_field_names=["bm25"]))
    index = MilvusClient.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="IP",
                    params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION})
    index.add_index("bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                    params={"bm25_k1": BM25_K1, "bm25_b": BM25_B})
    return schema, index


def sentence_schema(dimension: int) -> tuple[CollectionSchema, IndexParams]:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("sentence_id", DataType.INT64, is_primary=True)
    schema.add_field("chunk_ids", DataType.ARRAY, element_type=DataType.INT64, max_capacity=MAX_CHUNKS_PER_SENTENCE)
    _add_span_fields(schema)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    index = MilvusClient.prepare_index_params()
    # Sentences are fetched by chunk, never searched; FLAT costs nothing to build and lets the collection load.
    index.add_index("vector", index_type="FLAT", metric_type="IP")
    return schema, index


def meta_schema() -> tuple[CollectionSchema, IndexParams]:
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=256)
    schema.add_field("value", DataType.VARCHAR, max_length=VARCHAR_MAX)
    # Milvus wants a vector field in every collection; this one is never read.
    schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
    index = MilvusClient.prepare_index_params()
    index.add_index("unused", index_type="FLAT", metric_type="IP")
    return schema, index


CHUNK_FIELDS = ["chunk_id", "doc_id", "paragraph", "start", "end", "text", "clean"]
SENTENCE_FIELDS = ["sentence_id", "doc_id", "paragraph", "start", "end", "text", "clean", "vector"]


def _add_span_fields(schema: CollectionSchema) -> None:
    schema.add_field("doc_id", DataType.VARCHAR, max_length=1024)
    schema.add_field("paragraph", DataType.INT64)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("clean", DataType.VARCHAR, max_length=VARCHAR_MAX)
