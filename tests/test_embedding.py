"""The Embedder: offline model, fixed return types, the same vectors as sentence-transformers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from rag.embedding import Embedder, resolve_model_path
from rag.schema import ModelError


def test_query_vector_equals_sentence_transformers_encode_query(embedder: Embedder):
    for text in ["Who opposed the Tokyo office?", "a", "東京", "x " * 400]:
        expected = embedder._model.encode_query([text], normalize_embeddings=True, convert_to_numpy=True)[0]
        vector = embedder.encode_query(text)
        assert vector.dtype == np.float32 and vector.shape == (384,)
        np.testing.assert_allclose(vector, expected, atol=1e-5)


def test_document_matrix_shape_and_norms(embedder: Embedder):
    matrix = embedder.encode_documents(["NATO office.", "China objected.", ""])
    assert matrix.dtype == np.float32 and matrix.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(matrix[:2], axis=1), 1.0, atol=1e-5)
    assert embedder.encode_documents([]).shape == (0, 384)


def test_concurrent_encoding_shares_the_tokenizer_safely(embedder: Embedder):
    # Unserialised, a fast tokenizer shared by threads fails with "Already borrowed".
    errors: list[BaseException] = []

    def encode() -> None:
        try:
            for _ in range(20):
                embedder.encode_query("Who opposed the Tokyo office?")
                embedder.encode_documents(["The office opens next year."] * 3)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=encode) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_missing_model_folder_says_what_to_set(tmp_path):
    with pytest.raises(ModelError) as caught:
        resolve_model_path(str(tmp_path))
    assert str(caught.value) == (f"no sentence-transformers model at {tmp_path} (no modules.json or config.json); "
                                 "set RAG_MODEL_PATH to a model folder")
