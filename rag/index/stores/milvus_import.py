"""`import_faiss_index`: move the FAISS index of `index_dir` into Milvus as a new, published build.

The FAISS build is loaded exactly as a server loads it (checksums, model,
corpus), so only an index that would be served is moved.
"""

from __future__ import annotations

from collections.abc import Callable

from rag.config import Settings
from rag.index.files import current_build, load_index, read_manifest
from rag.index.lifecycle import corpus_fingerprint, read_corpus
from rag.index.stores import milvus_layout as layout
from rag.index.stores.milvus_link import MilvusLink
from rag.index.stores.milvus_publish import aliased_builds, build_data, publish
from rag.index.stores.milvus_store import MilvusStore
from rag.models.embedding import resolve_model_path, weights_sha256
from rag.schema import IndexMissingError, StaleIndexError


def import_faiss_index(settings: Settings, address: str, token: str = "", namespace: str = layout.NAMESPACE,
                       progress: Callable[[str], None] = lambda message: None) -> str:
    """Publish the current FAISS build of `settings.index_dir` to the Milvus at `address`; returns the new build id."""
    build = current_build(settings.index_dir)
    if build is None:
        raise IndexMissingError(f"no index in {settings.index_dir} to move; run `python -m rag index` first")
    documents, _ = read_corpus(settings)
    model_sha256 = weights_sha256(resolve_model_path(settings.model_path, settings.model))
    index = load_index(settings.index_dir, read_manifest(build)["model"]["dimension"], model_sha256,
                       {d.doc_id: d for d in documents})
    if index.manifest["key"]["corpus_fingerprint"] != corpus_fingerprint(documents):
        raise StaleIndexError(f"the corpus in {settings.corpus_dir} changed since the index was built; "
                              "run `python -m rag index` first")
    link = MilvusLink(address, token)
    try:
        progress(f"moving build {index.build_id} ({len(index.chunks)} chunks, {len(index.sentences)} sentences) "
                 f"to Milvus at {address}")
        return publish(link, build_data(index), namespace, progress)
    finally:
        link.close()


def published_from(settings: Settings, address: str, token: str = "", namespace: str = layout.NAMESPACE) -> str | None:
    """The FAISS build id the build Milvus serves was made from (None when Milvus serves none)."""
    link = MilvusLink(address, token)
    try:
        if layout.current_alias(namespace) not in aliased_builds(link, namespace):
            return None
        return MilvusStore.open(link, namespace).manifest.get("store", {}).get("imported_from")
    finally:
        link.close()


def publish_current(settings: Settings, force: bool = False,
                    progress: Callable[[str], None] = lambda message: None) -> str | None:
    """After `python -m rag index`: publish the index folder's build to RAG_VECTOR_STORE's Milvus unless Milvus
    already serves it (or `force`); returns the new Milvus build id, None when nothing was published."""
    faiss_build = current_build(settings.index_dir)
    if not force and faiss_build is not None \
            and published_from(settings, settings.vector_store, settings.milvus_token) == faiss_build.name:
        return None
    return import_faiss_index(settings, settings.vector_store, settings.milvus_token, progress=progress)
