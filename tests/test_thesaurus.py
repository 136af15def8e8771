"""The thesaurus for readers' words that no article uses (rag/thesaurus.py): made by the install step with the
real model, read by the answerer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import models, thesaurus
from rag.answering import ExtractiveAnswerer
from rag.pipeline import RAG
from rag.questions import read_in_conversation
from rag.sentence_store import SentenceStore


def test_the_install_step_made_the_thesaurus_with_the_installed_model():
    path = models.thesaurus_path()
    sha = models.file_sha256(models.model_dir(models.MINILM) / models.WEIGHTS)
    assert thesaurus.is_current(path, sha)
    table = thesaurus.load(path)
    assert len(table) > 5_000
    assert "quick" in dict(table["faster"]) and "allow" in dict(table["let"])
    assert all(0.6 <= cosine <= 1.0 for close in table.values() for _, cosine in close)
    assert not thesaurus.is_current(path, "0" * 64)  # made with other weights: made again


def test_a_words_family_pools_its_neighbours_and_is_no_neighbour_of_itself(embedder):
    words = ["faster", "quickly", "quick", "run", "runs", "ran", "the", "banana"]
    made = thesaurus.make_thesaurus(words, embedder.encode_documents(words))
    assert "quick" in dict(made["faster"])
    assert "run" in made and "runs" not in made  # one term for the family
    assert all(neighbour != term and not neighbour.startswith(term) for term, close in made.items()
               for neighbour, _ in close)
    assert "the" not in made  # a stop word has no term


def test_a_missing_or_damaged_thesaurus_leaves_answering_as_it_was(tmp_path: Path, caplog):
    assert thesaurus.load(tmp_path / "absent.json") == {}
    damaged = tmp_path / "damaged.json"
    damaged.write_text('{"version": 1, "terms": ', encoding="utf-8")
    assert thesaurus.load(damaged) == {}
    assert "run `make install`" in caplog.text
    written = tmp_path / "written.json"
    thesaurus.write(written, {"faster": [("quick", 0.7)]}, "m", "a" * 64)
    assert thesaurus.load(written) == {"faster": (("quick", 0.7),)}
    assert json.loads(written.read_text(encoding="utf-8"))["weights_sha256"] == "a" * 64
    assert written.stat().st_mode & 0o777 == 0o644


def test_only_words_no_article_uses_take_thesaurus_neighbours_and_never_names(rag: RAG):
    store = SentenceStore.from_index(rag._state.store, rag.documents, {
        "faster": (("quick", 0.71), ("banana", 0.7)),  # "banana" is in no article: left out
        "oppos": (("against", 0.7),),  # the articles use "opposed": their own neighbours count, not these
        "osaka": (("tokyo", 0.81), ("japan", 0.74)),  # names of the articles are no stand-ins
    })
    assert store.neighbours_of("faster") == (("quick", 0.71),)
    assert ("against", 0.7) not in store.neighbours_of("oppos")
    assert store.neighbours_of("osaka") == ()
    assert store.neighbours_of("faster", thesaurus=False) == ()
    assert store.neighbours_of("zzzz") == ()


@pytest.mark.parametrize(("question", "cited"), [
    ("Which country objected to NATO's plan for Tokyo?", "Macron had expressed his opposition"),
    ("What does Kashin expect the mission to let them handle faster?", "quickly resolve issues"),
])
def test_a_readers_word_no_article_uses_finds_the_sentence_through_the_thesaurus(rag: RAG, question: str,
                                                                                 cited: str):
    state = rag._state
    reading = read_in_conversation(question, [])
    retrieval = state.retriever.search(reading, 5, 10)
    with_thesaurus = state.answerer.answer(reading, retrieval)
    without = ExtractiveAnswerer(SentenceStore.from_index(state.store, rag.documents, {})).answer(reading, retrieval)
    assert cited in with_thesaurus.text
    assert cited not in without.text  # the thesaurus is what found it


def test_a_place_the_reader_names_takes_no_stand_in(rag: RAG):
    # The thesaurus puts Osaka next to Tokyo; a question about Osaka is still not one about Tokyo.
    assert "osaka" in thesaurus.load(models.thesaurus_path())
    assert rag.ask("How many people live in Osaka?").refused
