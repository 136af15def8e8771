"""The query path without torch: the ONNX export against sentence-transformers, answers on both paths, imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.answer.contract import answer_to_dict
from rag.answer.conversation import ask_in_conversation
from rag.config import PROJECT_ROOT, Settings
from rag.evaluation.questions import load_questions
from rag.index.bm25_scores import Bm25Scores
from rag.index.files import current_build
from rag.ingest.chunking import chunk_documents, split_documents_into_sentences
from rag.models import onnx_export, onnx_record, packaged
from rag.models.embedding import Embedder, resolve_model_path
from rag.models.onnx_embedding import OnnxEmbedder, pooling_of, token_limit
from rag.models.terms import STOPWORDS_EN, terms
from rag.pipeline import RAG, ensure_index
from rag.schema import ModelError
from tests.conftest import DATA

LABELED_SETS = ("dev.jsonl", "dev-readers.jsonl", "own-readers.jsonl", "tune-readers.jsonl", "fresh-readers.jsonl",
                "heldout.jsonl")


def test_onnx_vectors_of_every_corpus_text_match_sentence_transformers(rag: RAG, embedder: Embedder,
                                                                       torch_embedder: Embedder):
    # Two articles whole, as a build encodes them: every chunk and every sentence (the other three cost torch
    # ten seconds more and exercise nothing these do not).
    documents = sorted(rag.documents.values(), key=lambda d: len(d.raw))[:2]
    texts = [c.clean for c in chunk_documents(documents, 700, 100)]
    texts += [s.clean for s in split_documents_into_sentences(documents)]
    questions = [json.loads(line)["question"] for line in (DATA / "dev.jsonl").read_text().splitlines() if line]
    # As a build encodes them (one token length a batch).
    assert np.sum(embedder.encode_exact(texts) * torch_embedder.encode_exact(texts), axis=1).min() >= 0.99999
    for question in questions:
        assert embedder.encode_query(question) @ torch_embedder.encode_query(question) >= 0.99999


def test_pooling_and_token_limit_come_from_the_models_own_files(embedder: Embedder):
    folder = embedder.model_dir
    assert (pooling_of(folder), token_limit(folder)) == ("mean", 256)
    mpnet = resolve_model_path("", "all-mpnet-base-v2")
    assert (pooling_of(mpnet), token_limit(mpnet)) == ("mean", 384)


def test_the_tokenizer_vocabulary_is_sentence_transformers(embedder: Embedder, torch_embedder: Embedder):
    assert embedder.tokenizer_vocabulary() == torch_embedder.tokenizer_vocabulary()


def test_the_install_step_recorded_the_export_beside_the_model(embedder: Embedder):
    record = onnx_record.read_record(embedder.model_dir)
    graph = onnx_record.export_dir(embedder.model_dir) / onnx_record.GRAPH
    assert record["onnx"]["sha256"] == packaged.file_sha256(graph)
    assert record["weights"]["sha256"] == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    assert record["probe"]["min_cosine"] >= onnx_export.PROBE_MIN_COSINE


def _linked_model(tmp_path: Path, model_dir: Path) -> Path:
    """A folder of the user's holding the packaged model's files (linked, not copied)."""
    folder = tmp_path / "my-model"
    folder.mkdir()
    for item in model_dir.iterdir():
        (folder / item.name).symlink_to(item)
    return folder


def test_a_model_folder_without_an_export_names_make_install(tmp_path: Path, embedder: Embedder):
    folder = _linked_model(tmp_path, embedder.model_dir)
    with pytest.raises(ModelError) as caught:
        OnnxEmbedder(folder)
    assert str(caught.value) == (f"no ONNX export of the model in {folder} ({folder}/onnx/export.json is missing); "
                                 f"run `make install` (for a model folder of your own: python -m rag.models export "
                                 f"{folder})")


def test_an_export_of_other_weights_is_refused(tmp_path: Path, embedder: Embedder):
    folder = _linked_model(tmp_path, embedder.model_dir)
    source = onnx_record.export_dir(embedder.model_dir)
    (folder / "onnx").mkdir()
    (folder / "onnx" / "model.onnx").symlink_to(source / "model.onnx")
    record = json.loads((source / "export.json").read_text())
    record["weights"] = {**record["weights"], "sha256": "0" * 64, "mtime_ns": 1}
    (folder / "onnx" / "export.json").write_text(json.dumps(record))
    with pytest.raises(ModelError) as caught:
        OnnxEmbedder(folder)
    assert str(caught.value) == (f"the ONNX export in {folder}/onnx was made from other weights than "
                                 f"{folder}/model.safetensors (sha256 000000000000…); run `make install` to export "
                                 "the model again")


def test_bm25_is_searched_as_bm25s_searches_it(rag: RAG, settings: Settings):
    import bm25s

    folder = current_build(settings.index_dir) / "bm25"
    ours, theirs = Bm25Scores.load(folder), bm25s.BM25.load(str(folder), allow_pickle=False, show_progress=False)
    assert ours.vocab_dict == theirs.vocab_dict
    questions = [json.loads(line)["question"] for name in LABELED_SETS
                 for line in (DATA / name).read_text().splitlines() if line]
    for question in questions + ["", "zzzz unknown words"]:
        wanted = [t for t in terms(question) if t in ours.vocab_dict]
        for k in (5, 50, ours.num_docs):
            got, expected = ours.retrieve([wanted], k=k), theirs.retrieve([wanted], k=k, show_progress=False,
                                                                            n_threads=1)
            assert got[0].tolist() == expected[0].tolist() and got[1].tobytes() == expected[1].tobytes()


def test_the_stop_words_are_bm25s_own():
    from bm25s.stopwords import STOPWORDS_EN as theirs

    assert STOPWORDS_EN == tuple(theirs)


def _answers(rag: RAG, name: str) -> list[dict]:
    """Every answer of a labeled set, asked as `make eval` asks it (after its history), timings left out."""
    questions = load_questions(DATA / name, rag.documents)
    answers = []
    for question in questions:
        answer = answer_to_dict(ask_in_conversation(rag.ask, question.history, question.text))
        answer.pop("timings_ms")
        answers.append(answer)
    return answers


def test_every_labeled_set_is_answered_the_same_on_both_paths(rag: RAG, settings: Settings,
                                                              torch_embedder: Embedder):
    with RAG(settings, torch_embedder) as reference:
        for name in LABELED_SETS:
            ours, theirs = _answers(rag, name), _answers(reference, name)
            assert len(ours) == len(theirs)
            for n, (got, expected) in enumerate(zip(ours, theirs, strict=True), start=1):
                assert got == expected, f"{name}:{n}: {got['question']!r} is answered differently"


def test_an_index_built_by_one_path_answers_the_same_served_by_the_other(small_index: Settings, tmp_path: Path,
                                                                         embedder: Embedder,
                                                                         torch_embedder: Embedder):
    questions = ["Who opposed the Tokyo office?", "What did China say about NATO?", "When will the office open?"]
    answers = {}
    for built_by, builder in (("onnx", embedder), ("torch", torch_embedder)):
        settings = small_index.replace(index_dir=tmp_path / built_by)
        ensure_index(settings, builder)
        manifest = json.loads((current_build(settings.index_dir) / "manifest.json").read_text())
        assert manifest["model"]["encoder"] == builder.encoder
        for served_by, server in (("onnx", embedder), ("torch", torch_embedder)):
            with RAG(settings, server) as rag:
                answers[built_by, served_by] = [
                    {k: v for k, v in answer_to_dict(rag.ask(q)).items() if k != "timings_ms"} for q in questions]
    first = answers["onnx", "onnx"]
    assert all(got == first for got in answers.values())


def test_a_build_reuses_no_vector_the_other_path_computed(small_built: Settings, embedder: Embedder,
                                                          torch_embedder: Embedder):
    first = ensure_index(small_built, torch_embedder, force=True)
    assert first.rebuilt
    (small_built.corpus_dir / "extra.txt").write_text("A new page.\n\nIt says one thing about NATO.\n")
    report = ensure_index(small_built, embedder)
    assert report.rebuilt and report.reused == 0


CHILD = """
import json, sys
from rag.cli import main

HEAVY = ("torch", "sentence_transformers", "transformers", "gradio", "fastapi", "pymilvus", "bm25s", "scipy")
loaded = {}
main(["ask", "Who opposed the Tokyo office?"])
loaded["ask"] = [m for m in HEAVY if m in sys.modules]
main(["eval", "tests/data/dev.jsonl"])
loaded["eval"] = [m for m in HEAVY if m in sys.modules]
import httpx
from rag.config import Settings
from rag.pipeline import RAG
from rag.serve.api import create_app
from tests.servers import start_app

running = start_app(create_app(RAG.open(Settings.load())))
reply = httpx.post(running.url + "/api/ask", json={"question": "Who opposed the Tokyo office?"}, timeout=60)
loaded["served"] = [m for m in HEAVY if m in sys.modules] + ([] if reply.status_code == 200 else [reply.text])
running.stop()
print(json.dumps(loaded))
"""


def test_no_torch_in_a_process_that_asks_evaluates_and_serves(rag: RAG, settings: Settings):
    env = {**os.environ, "RAG_CORPUS_DIR": str(settings.corpus_dir), "RAG_INDEX_DIR": str(settings.index_dir),
           "RAG_ENCODER": "onnx"}
    env.pop("RAG_MODEL_PATH", None)
    run = subprocess.run([sys.executable, "-c", CHILD], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert loaded == {"ask": [], "eval": [], "served": ["gradio", "fastapi"]}


def _small_model(tmp_path: Path, model_dir: Path) -> Path:
    """A user's model folder: the packaged model's tokenizer and pooling, with a two-layer BERT of its own (random
    weights, 64 wide). Exporting it exercises every step an export takes, in a second rather than ten."""
    from transformers import BertConfig, BertModel

    folder = tmp_path / "my-small-model"
    folder.mkdir()
    for item in model_dir.iterdir():
        if item.name not in ("config.json", "model.safetensors", "onnx"):
            (folder / item.name).symlink_to(item)
    config = BertConfig.from_pretrained(model_dir)
    config.update({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128})
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


def test_the_export_of_a_folder_of_ones_own_is_made_on_demand_and_checked(tmp_path: Path):
    folder = _small_model(tmp_path, resolve_model_path(""))
    record = onnx_export.export(folder)
    assert record["probe"]["min_cosine"] >= onnx_export.PROBE_MIN_COSINE
    assert OnnxEmbedder(folder).encode_query("NATO").shape == (64,)
