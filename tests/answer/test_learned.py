"""The learned answerer: its model file, `rag train`, `rag crossval`, and its answers' contract."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from rag.answer import sentence_store, signals
from rag.answer.answering import mentioned_names
from rag.answer.learned import PACKAGED_MODEL, LearnedModel, load_model
from rag.answer.sentence_store import SentenceStore
from rag.cli import main
from rag.config import PROJECT_ROOT, Settings
from rag.evaluation.training import file_digest
from rag.ingest.chunking import split_documents_into_sentences
from rag.ingest.corpus import load_corpus
from rag.models import terms as terms_module
from rag.models.terms import TermPostings, terms
from rag.pipeline import RAG
from rag.schema import ConfigError, Turn
from tests.conftest import DATA


@pytest.fixture(scope="module")
def learned(settings: Settings, embedder, session_build) -> RAG:
    with RAG(settings.replace(answerer="learned", documents_noun="pages"), embedder) as rag:
        yield rag


@pytest.mark.parametrize("question", ["Who opposed the Tokyo office?", "When will the office open?",
                                      "What did Kishida say about joining NATO?"])
def test_learned_answers_cite_exact_ranges_of_the_raw_files(learned: RAG, question: str):
    answer = learned.ask(question)
    assert answer.citations, answer.text
    for citation in answer.citations:
        raw = learned.documents[citation.doc_id].raw
        assert raw[citation.start:citation.end] == citation.text
        assert f"[{citation.n}]" in answer.text


@pytest.mark.parametrize(("question", "history"), [
    ("Who opposed the Tokyo office?", ()),
    ("What did China say about the office?", ()),
    ("Why did they oppose it?", (Turn("Who opposed the Tokyo office?"),)),
])
def test_the_signals_are_what_their_plain_definitions_give_sentence_by_sentence(learned: RAG, question: str,
                                                                                history: tuple[Turn, ...]):
    # The signals are filled a column at a time (rag/answer/signals.py); each must still say, of each sentence,
    # what its one-sentence definition says.
    ranked, store = learned.ranked(question, history)
    found = ranked.candidates
    column = {name: found.features[:, i] for i, name in enumerate(signals.SENTENCE_FEATURES)}
    total = sum(found.weights.values())
    cosine_of = dict(zip(found.sentence_ids, column["cosine"], strict=True))
    assert len(found.sentence_ids) > 10
    for row, i in enumerate(found.sentence_ids):
        sentence = store.sentences[i]
        held = {t for t in found.weights if i in store.postings.holding(t)}
        assert column["exact_overlap"][row] == pytest.approx(sum(found.weights[t] for t in held) / total)
        assert held <= found.covered[row]
        headed = {t for t in found.weights if t in store.heading_terms[i]}
        assert column["heading_overlap"][row] == pytest.approx(sum(found.weights[t] for t in headed) / total)
        paragraph = (sentence.doc_id, sentence.paragraph)
        beside = [j for j in (i - 1, i + 1) if 0 <= j < len(store.sentences)
                  and (store.sentences[j].doc_id, store.sentences[j].paragraph) == paragraph]
        assert column["first_in_paragraph"][row] == float(i - 1 not in beside)
        assert column["table_header"][row] == float(store.table_header[i])
        if all(j in cosine_of for j in beside):
            assert column["beside_cosine"][row] == pytest.approx(max((cosine_of[j] for j in beside), default=0.0),
                                                                 abs=1e-6)
    for name in ("cosine", "bm25", "overlap"):
        assert column[f"{name}_gap"] == pytest.approx(column[name] - column[name].max())
        order = sorted(range(len(found.sentence_ids)), key=lambda r: -column[name][r])  # ties: the earlier first
        assert [column[f"{name}_rank"][r] for r in order] == [1 / n for n in range(1, len(order) + 1)]
    assert column["context_overlap"].any() == bool(history)


def test_sentences_holding_the_same_words_tie_exactly_whatever_order_their_weights_were_summed_in():
    weights = np.array([0.1, 0.2, 0.3])
    one_way, other_way = weights @ np.array([1.0, 1.0, 1.0]), weights[::-1].sum()
    assert one_way != other_way  # 0.6000000000000001 and 0.6
    assert signals._share(np.array([one_way]), 0.7) == signals._share(np.array([other_way]), 0.7)


def test_a_word_family_is_remembered_within_a_bound_and_a_lone_word_gets_its_own_postings(
        monkeypatch: pytest.MonkeyPatch):
    postings = TermPostings([frozenset({"oppos", "offic"}), frozenset({"opposit"}), frozenset({"tokyo"})])
    monkeypatch.setattr(terms_module, "FAMILIES_REMEMBERED", 2)

    assert postings.holding("oppos") == {0, 1}  # "opposed" finds "opposition"
    assert postings.holding("tokyo") is postings.exactly("tokyo")  # no copy of a lone word's postings
    assert postings.holding("vienna") == frozenset()
    assert len(postings._families) <= 2
    assert postings.holding("oppos") == {0, 1}


@pytest.mark.parametrize("question", ["a", "?!?!", "🙂🙂🙂"])
def test_a_question_with_no_word_of_its_own_is_refused_in_the_corpus_word(learned: RAG, question: str):
    answer = learned.ask(question)
    assert answer.refused and answer.citations == ()
    assert answer.text == "The pages don't say. The closest passages are listed below."


def test_the_packaged_model_round_trips_and_was_fitted_on_the_files_as_they_are():
    model = load_model(PACKAGED_MODEL)
    again = LearnedModel.from_json(model.to_json())
    rows = np.random.default_rng(0).normal(size=(5, len(model.sentence.features)))
    assert np.allclose(model.sentence.logits(rows), again.sentence.logits(rows))
    # Stale weights would be a silent regression: `make` refits when a labeled file changes.
    for trained in model.trained_on:
        assert file_digest(PROJECT_ROOT / trained.path) == trained.sha256, f"refit: {trained.path} changed (run make)"
    assert {Path(t.path).name for t in model.trained_on} >= {"train-readers.jsonl", "questions.jsonl", "dev.jsonl"}


def test_a_damaged_model_file_names_the_fix(tmp_path: Path):
    damaged = tmp_path / "model.json"
    damaged.write_text('{"format": 1, "sentence": {}}', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_model(damaged)
    assert str(caught.value).startswith(f"answerer model {damaged} cannot be read (KeyError")
    assert str(caught.value).endswith("fit it again with `python -m rag train QUESTIONS.jsonl --out FILE`")
    with pytest.raises(ConfigError, match="does not exist; fit one with `python -m rag train"):
        load_model(tmp_path / "missing.json")


def test_train_writes_a_json_model_that_answers(settings: Settings, embedder, session_build, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "fitted.json"
    code = main(["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir), "train",
                 str(DATA / "dev.jsonl"), str(DATA / "heldout.jsonl"), "--out", str(out)])
    assert code == 0
    assert capsys.readouterr().out.startswith(f"fitted  {out} on 32 questions: ")
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [t["questions"] for t in data["trained_on"]] == [14, 18]
    with RAG(settings.replace(answerer="learned", answerer_model=str(out)), embedder) as rag:
        answer = rag.ask("Which countries opposed NATO's office in Tokyo?")
    assert answer.citations


def test_crossval_prints_each_set_and_gates_on_its_floors(settings: Settings, session_build,
                                                          capsys: pytest.CaptureFixture[str]):
    common = ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir), "crossval",
              str(DATA / "dev.jsonl"), str(DATA / "heldout.jsonl"), "--pool", "wording=dev,heldout"]
    assert main([*common, "--min", "wording.refusal_accuracy=0"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Leave-one-set-out cross-validation: each set answered by a model fitted on all")
    assert [line.split()[0] for line in printed.splitlines()[3:]] == ["dev", "heldout", "wording"]
    assert main([*common, "--min", "wording.citation_recall=1.01"]) == 1
    assert "FAIL wording.citation_recall = " in capsys.readouterr().err


def test_crossval_needs_two_sets_and_known_pools(settings: Settings, capsys: pytest.CaptureFixture[str]):
    assert main(["crossval", str(DATA / "dev.jsonl")]) == 2
    assert capsys.readouterr().err == ("error: cross-validation needs two or more question files; each is answered "
                                       "by a model fitted on the others\n")
    assert main(["crossval", str(DATA / "dev.jsonl"), str(DATA / "heldout.jsonl"), "--pool", "x=dev,nosuch"]) == 2
    assert "'nosuch' is none" in capsys.readouterr().err


def test_the_documents_noun_is_one_word():
    with pytest.raises(ConfigError) as caught:
        Settings.load(env={"RAG_DOCUMENTS_NOUN": "wiki pages"})
    assert str(caught.value) == ("documents_noun='wiki pages' is not one word; set RAG_DOCUMENTS_NOUN to what the "
                                 "corpus's documents are called, e.g. pages or articles")


def test_no_question_of_any_labeled_set_is_written_into_the_package():
    files = [path for path in DATA.rglob("*.jsonl") if "index" not in path.relative_to(DATA).parts]
    questions = {json.loads(line)["question"] for path in files
                 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert len(questions) > 200
    package = "\n".join(p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "rag").rglob("*")
                        if p.suffix in (".py", ".json"))
    # A bare "When?" is everyone's; a question of three words or more is some set's own.
    written = sorted(q for q in questions if len(q.split()) >= 3 and q in package)
    assert written == []


def store_of(folder: Path) -> tuple[SentenceStore, list]:
    """The sentence store of the pages in `folder` (no vectors: these tests read its words and layout), and the
    files the reader skipped."""
    documents, skipped = load_corpus(folder)
    sentences = split_documents_into_sentences(documents)
    store = SentenceStore(sentences, np.zeros((len(sentences), 4), dtype=np.float32), [], lambda ids: np.zeros(0),
                          {d.doc_id: d for d in documents}, {})
    return store, skipped


def test_a_sentence_is_headed_by_its_page_title_and_its_section_heading(tmp_path: Path):
    # A wiki's table row names no topic ("DVDs | 1 week"); its section heading and page title do, and the
    # learned answerer's heading_overlap signal reads them (rag/signals.py).
    (tmp_path / "lending.md").write_text(
        "---\ntitle: Lending rules\n---\n# Lending rules\n\nMembership is free for residents.\n\n"
        "## Loan periods\n\n| Item | Time |\n|---|---|\n| DVDs | 1 week |\n", encoding="utf-8")
    store, skipped = store_of(tmp_path)
    sentences = store.sentences
    headed = {s.clean: store.heading_terms[i] for i, s in enumerate(sentences)}

    assert skipped == []
    assert headed["Membership is free for residents."] == frozenset(terms("Lending rules"))
    row = next(text for text in headed if "DVDs" in text)
    assert headed[row] == frozenset(terms("Lending rules Loan periods"))


def test_a_tables_first_row_is_its_header_in_every_page_format_and_no_other_row_or_prose_is(tmp_path: Path):
    # "Week starting | Primary | Secondary" shares the words of a question about the rota and answers none of it:
    # the learned answerer's table_header signal lets the fit learn so (rag/answer/signals.py).
    (tmp_path / "rota.md").write_text(
        "# On call\n\nThe rota changes on Mondays | swaps go through Rosterly.\n\n"
        "| Week starting | Primary | Secondary |\n|---|---|---|\n"
        "| 14 April | Lena Pryce | Femi Adeyoola |\n| 21 April | Femi Adeyoola | Lena Pryce |\n\n## Pay\n\n"
        "| Shift | Allowance |\n|---|---|\n| Weekend day | £60 |\n", encoding="utf-8")
    (tmp_path / "hours.html").write_text(
        "<html><head><title>Hours</title></head><body><h1>Hours</h1><p>Doors open early, and a | in prose is "
        "no table.</p><table><tr><th>Area</th><th>Weekdays</th></tr><tr><td>Workshop</td><td>07:30 to 19:00</td>"
        "</tr></table></body></html>\n", encoding="utf-8")
    store, skipped = store_of(tmp_path)
    sentences = store.sentences

    headers = sorted(s.clean for s, first in zip(sentences, store.table_header, strict=True) if first)
    assert skipped == []
    assert headers == ["Area | Weekdays", "Shift | Allowance", "Week starting | Primary | Secondary"]
    assert len(sentences) > len(headers) + 4  # the rows and the prose are there, and none of them is a header


def test_a_refusal_to_a_lower_case_question_names_only_what_the_pages_always_write_as_a_name(tmp_path: Path):
    # Both answerers' refusals say what the pages do mention ("The pages mention Vaultkeep but don't say how
    # long"); one "Do Not Disturb" must not make the reader's "do" a thing the pages mention.
    (tmp_path / "security.md").write_text(
        "# Security\n\nEvery account is kept in Vaultkeep. Ask for a Vaultkeep seat on day one.\n\n"
        "Phones ring through Do Not Disturb. We do not expire passwords, and we do not share them.\n",
        encoding="utf-8")
    store, _ = store_of(tmp_path)

    assert mentioned_names(store, "how long do passwords in vaultkeep have to be") == ["Vaultkeep"]
    # A reader who capitalises names the ones they capitalise, as the pages write them.
    assert mentioned_names(store, "How long do passwords in Vaultkeep have to be?") == ["Vaultkeep"]
    assert mentioned_names(store, "Does Do Not Disturb let the pager ring?") == ["Do Not Disturb"]


def test_the_bm25_signal_counts_each_term_as_often_as_the_sentence_holds_it(tmp_path: Path):
    # The store keeps each sentence's length and its repeated terms, so a question never tokenizes its candidates
    # again (rag/answer/signals.py); the signal must equal BM25 over the sentence's own term counts.
    (tmp_path / "fines.md").write_text(
        "# Fines\n\nFines, fines and more fines: the fines page.\n\nChildren pay no fines.\n\n"
        "Adults pay a small charge per day.\n", encoding="utf-8")
    store, _ = store_of(tmp_path)
    sentences = store.sentences
    weights = {t: store.idf.get(t, store.unseen_idf) for t in terms("fines children charge library")}
    assert max(store.repeats.values()) >= 4  # "fines" four times over in the first sentence
    ids = list(range(len(sentences)))

    scores = signals._bm25(store, ids, {i: i for i in ids}, weights)

    for sentence_id, sentence in enumerate(sentences):
        counts = Counter(terms(sentence.clean))
        norm = signals.BM25_K1 * (1 - signals.BM25_B + signals.BM25_B * sum(counts.values()) / store.mean_terms)
        expected = sum(idf * counts[t] * (signals.BM25_K1 + 1) / (counts[t] + norm)
                       for t, idf in weights.items() if counts[t])
        assert scores[sentence_id] == pytest.approx(expected, rel=1e-12)


def test_speaker_verdicts_are_remembered_within_a_bound(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    (tmp_path / "a.txt").write_text("Paris\n\nMacron said the office was a mistake.\n", encoding="utf-8")
    store, _ = store_of(tmp_path)
    text = store.document_text["a"]
    monkeypatch.setattr(sentence_store, "SPEAKERS_REMEMBERED", 3)

    assert store.speaks_in("Macron", text) and not store.speaks_in("Kishida", text)
    for n in range(10):  # a stream of made-up names
        assert not store.speaks_in(f"Nobody{n}", text)
        assert len(store._speaks) <= 3
    assert store.speaks_in("Macron", text)  # asked again after it was forgotten: the same verdict
