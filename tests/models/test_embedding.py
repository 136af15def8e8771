"""The Embedder: offline model, fixed return types, the same vectors as sentence-transformers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from rag.config import PROJECT_ROOT
from rag.models.embedding import Embedder, resolve_model_path
from rag.schema import ModelError


def test_query_vector_equals_sentence_transformers_encode_query(embedder: Embedder, torch_embedder: Embedder):
    for text in ["Who opposed the Tokyo office?", "a", "東京", "x " * 400]:
        expected = torch_embedder._model.encode_query([text], normalize_embeddings=True, convert_to_numpy=True)[0]
        for vector in (torch_embedder.encode_query(text), embedder.encode_query(text)):
            assert vector.dtype == np.float32 and vector.shape == (384,)
            np.testing.assert_allclose(vector, expected, atol=1e-5)


@pytest.mark.parametrize("which", ["embedder", "torch_embedder"])
def test_document_matrix_shape_and_norms(which: str, request: pytest.FixtureRequest):
    embedder = request.getfixturevalue(which)
    matrix = embedder.encode_documents(["NATO office.", "China objected.", ""])
    assert matrix.dtype == np.float32 and matrix.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(matrix[:2], axis=1), 1.0, atol=1e-5)
    assert embedder.encode_documents([]).shape == (0, 384)


@pytest.mark.parametrize("which", ["embedder", "torch_embedder"])
def test_concurrent_encoding_shares_the_tokenizer_safely(which: str, request: pytest.FixtureRequest):
    # Unserialised, a fast tokenizer shared by threads fails with "Already borrowed".
    embedder = request.getfixturevalue(which)
    errors: list[BaseException] = []

    def encode() -> None:
        try:
            for _ in range(5):  # eight threads at once: an unguarded tokenizer fails within the first rounds
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


LOAD_OFFLINE = """
import os, sys
attempts = []

def refuse_network(event, args):
    if event in ("socket.connect", "socket.getaddrinfo"):
        attempts.append(event)
        raise OSError("no network in this test")

sys.addaudithook(refuse_network)
before = {k: v for k, v in os.environ.items() if k.startswith(("HF_", "TRANSFORMERS_"))}
from rag.models.embedding import Embedder, resolve_model_path
from rag.models.onnx_embedding import OnnxEmbedder
vectors = [E(resolve_model_path("")).encode_query("Who opposed the Tokyo office?") for E in (OnnxEmbedder, Embedder)]
after = {k: v for k, v in os.environ.items() if k.startswith(("HF_", "TRANSFORMERS_"))}
print([v.shape for v in vectors], attempts, before == after)
"""


def test_the_model_loads_offline_without_setting_the_environment():
    # Neither HF_HUB_OFFLINE nor TRANSFORMERS_OFFLINE set, every connection refused: the packaged model
    # still loads and encodes, and the Embedder leaves the process environment as it found it.
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    run = subprocess.run([sys.executable, "-c", LOAD_OFFLINE], cwd=PROJECT_ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[(384,), (384,)] [] True"


@pytest.mark.parametrize("which", ["embedder", "torch_embedder"])
def test_an_exact_vector_has_the_same_bytes_whatever_is_encoded_with_it(which: str, request: pytest.FixtureRequest):
    embedder = request.getfixturevalue(which)
    alone = "The liaison office would be the alliance's first in Asia."
    company = [f"Paragraph {i} is about something else entirely, at another length{'!' * i}." for i in range(40)]
    together = embedder.encode_exact([*company[:7], alone, *company[7:]])
    assert together[7].tobytes() == embedder.encode_exact([alone])[0].tobytes()
