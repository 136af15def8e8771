"""The thesaurus for readers' words that no article uses (rag/models/thesaurus.py): made by the install step with the
real model, read by the answerer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answer.answering import ExtractiveAnswerer
from rag.answer.reading import read_in_conversation
from rag.answer.sentence_store import SentenceStore
from rag.models import packaged, thesaurus
from rag.pipeline import RAG


def test_the_install_step_made_the_thesaurus_with_the_installed_model():
    path = packaged.thesaurus_path()
    sha = packaged.file_sha256(packaged.model_dir(packaged.MINILM) / packaged.WEIGHTS)
    assert thesaurus.is_current(path, sha)
    table = thesaurus.load(path)
    assert len(table) > 5_000
    assert "quick" in dict(table["faster"]) and "allow" in dict(table["let"])
    assert all(0.6 <= cosine <= 1.0 for close in table.values() for _, cosine in close)
    assert not thesaurus.is_current(path, "0" * 64)  # made with other weights: made again


def test_a_words_family_pools_its_neighbours_and_is_no_neighbour_of_itself(embedder):
    words = ["faster", "quickly", "quick", "run", "runs", "running", "ran", "jog", "uk", "britain"]
    made = thesaurus.make_thesaurus(words, embedder.encode_documents(words))
    assert "quick" in dict(made["faster"])
    # "runs" and "running" are the term "run": their neighbours are pooled under it, and none is "run".
    assert {"ran", "jog"} <= set(dict(made["run"])) and "run" not in dict(made["run"])
    assert all(len(neighbour) >= thesaurus.MIN_NEIGHBOUR_LENGTH for close in made.values() for neighbour, _ in close)
    assert "uk" not in dict(made.get("britain", ()))  # too short to stand for a word


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
    # A failed read is not remembered: a thesaurus installed while a server runs is found by its next build.
    thesaurus.write(tmp_path / "absent.json", {"let": [("allow", 0.69)]}, "m", "a" * 64)
    assert thesaurus.load(tmp_path / "absent.json") == {"let": (("allow", 0.69),)}


def test_a_thesaurus_made_by_other_code_is_made_again(tmp_path: Path):
    path = tmp_path / "thesaurus.json"
    thesaurus.write(path, {"faster": [("quick", 0.7)]}, "m", "a" * 64)
    assert thesaurus.is_current(path, "a" * 64)
    payload = json.loads(path.read_text(encoding="utf-8"))
    payload["made_by"] = "0" * 64  # as after a change to rag/models/terms.py, whose stems are its keys
    path.write_text(json.dumps(payload), encoding="utf-8")
    assert not thesaurus.is_current(path, "a" * 64)


def test_only_words_no_article_uses_take_thesaurus_neighbours_and_never_names(rag: RAG):
    store = SentenceStore.from_index(rag._state.store, rag.documents, {
        "faster": (("quick", 0.71), ("banana", 0.7)),  # "banana" is in no article: left out
        "kashin": (("quick", 0.9),),  # the articles use "Kashin" (a name: no build-time neighbours either)
        "osaka": (("tokyo", 0.81), ("japan", 0.74)),  # names of the articles are no stand-ins
    })
    assert "kashin" not in store.neighbours and store.postings.holding("kashin")
    assert store.neighbours_of("faster") == (("quick", 0.71),)
    assert store.neighbours_of("kashin") == ()
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


def test_a_word_the_reader_writes_as_a_name_takes_no_stand_in(rag: RAG):
    # Written capitalised mid-question, a word is read as a name ("Osaka", whose thesaurus neighbours are
    # Tokyo and Japan); "Objected" so written loses "oppose" and Macron with it.
    asked_plainly = rag.ask("Which country objected to NATO's plan for Tokyo?")
    as_a_name = rag.ask("Which country Objected to NATO's plan for Tokyo?")
    assert "Macron had expressed his opposition" in asked_plainly.citations[0].text
    assert all("Macron" not in c.text for c in as_a_name.citations)


def test_a_thesaurus_of_the_wrong_shape_is_none_and_a_bad_entry_has_no_neighbours(tmp_path: Path,
                                                                                  caplog: pytest.LogCaptureFixture):
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"version": thesaurus.VERSION, "terms": ["faster"]}), encoding="utf-8")
    assert thesaurus.load(wrong) == {}
    assert f"no thesaurus for readers' words ({wrong}: its terms are list, not an object)" in caplog.text
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps({"version": thesaurus.VERSION,
                                 "terms": {"faster": [["quick", 0.7]], "odd": [["x", "not a number"]]}}),
                     encoding="utf-8")
    table = thesaurus.load(mixed)
    assert table["faster"] == (("quick", 0.7),) and table["odd"] == () and "missing" not in table
    assert sorted(table) == ["faster", "odd"] and len(table) == 2
