"""Evaluation: question-file parsing, every metric on hand-made answers, support check, follow-ups asked after
their history, report round trip, floors and comparison. No embedding model: answers are built by hand or by an
oracle over the gold evidence."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rag.answer.conversation import ask_in_conversation
from rag.config import PROJECT_ROOT
from rag.evaluation.compare import compare
from rag.evaluation.floors import check_floors
from rag.evaluation.metrics import METRIC_NAMES, score
from rag.evaluation.questions import Evidence, Question, load_questions
from rag.evaluation.report_file import (
    load_report,
    metrics_to_dict,
    report_to_dict,
    rescore,
    results_from_dict,
    write_report,
)
from rag.evaluation.run import evaluate
from rag.evaluation.support import check_support, cited_sentences, load_nli
from rag.evaluation.tables import render_comparison, render_report
from rag.ingest.corpus import load_corpus
from rag.schema import (
    Answer,
    Chunk,
    Citation,
    ConfigError,
    Document,
    ModelError,
    Passage,
    QuestionFileError,
    ReportFileError,
    Turn,
)
from tests.conftest import DATA

RAW = ("Alpha said one thing. Beta met “Gamma” in [the capital](#) on Monday.\n\n"
       "Delta four. Epsilon five is long. Zeta six.")
DOC = Document(doc_id="a", path="a.txt", title="A", date="", source="", raw=RAW, paragraphs=())
OTHER = Document(doc_id="b", path="b.txt", title="B", date="", source="", raw=RAW, paragraphs=())
DOCS = {"a": DOC, "b": OTHER}


def span(quote: str) -> tuple[int, int]:
    start = RAW.index(quote)
    return start, start + len(quote)


def evidence(quote: str, doc: str = "a") -> Evidence:
    return Evidence(doc, *span(quote), quote)


def passage(rank: int, quote: str, doc: str = "a") -> Passage:
    start, end = span(quote)
    return Passage(Chunk(rank, doc, 1, start, end, quote), score=1.0 / rank, rank=rank)


def citation(n: int, quote: str, doc: str = "a", clean: str = "") -> Citation:
    start, end = span(quote)
    return Citation(n, doc, "A", 1, start, end, quote, f"/source/{doc}#p1", clean=clean or quote)


def answer(text: str, citations=(), passages=(), refused: bool = False, total: float | None = 12.5) -> Answer:
    timings = {} if total is None else {"total": total}
    return Answer("q", text, tuple(citations), tuple(passages), refused, timings)


def question(answers=(("Beta",),), quotes=("Beta met",), answerable: bool = True, qid: str = "q1") -> Question:
    return Question(qid, "Who met Gamma?", tuple(tuple(f) for f in answers),
                    tuple(evidence(q) for q in quotes), answerable)


def scored(q: Question, a: Answer):
    return score(q, a, check_support(a))


# ---------------------------------------------------------------- metrics on hand-made answers

def test_retrieval_metrics_from_ranges():
    q = question(quotes=("Beta met", "Epsilon five"))
    passages = [passage(1, "Alpha said"), passage(2, "met “Gamma”"), passage(3, "Delta four. Epsilon"),
                passage(4, "Zeta six.")]
    s = scored(q, answer("x", passages=passages))
    assert (s.hit_at_1, s.hit_at_3, s.hit_at_5) == (0.0, 1.0, 1.0)
    assert (s.evidence_recall_at_1, s.evidence_recall_at_3, s.evidence_recall_at_5) == (0.0, 1.0, 1.0)
    assert s.mrr == 0.5
    ideal = 1 + 1 / math.log2(3)
    assert s.ndcg_at_10 == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / ideal)


def test_ranges_are_half_open_and_need_the_same_doc():
    q = question(quotes=("Beta met",))
    before = RAW[:span("Beta met")[0]]  # ends exactly where the evidence starts
    touching = Passage(Chunk(1, "a", 1, 0, len(before), before), 1.0, 1)
    s = scored(q, answer("x", passages=[touching, passage(2, "Beta met", doc="b")]))
    assert (s.hit_at_5, s.mrr, s.ndcg_at_10) == (0.0, 0.0, 0.0)


def test_passages_are_ranked_by_rank_not_list_order():
    q = question()
    s = scored(q, answer("x", passages=[passage(2, "Beta met"), passage(1, "Alpha said")]))
    assert (s.hit_at_1, s.mrr) == (0.0, 0.5)


def test_mrr_counts_only_the_top_20():
    q = question()
    misses = [passage(rank, "Alpha said") for rank in range(1, 21)]
    assert scored(q, answer("x", passages=[*misses, passage(21, "Beta met")])).mrr == 0.0
    assert scored(q, answer("x", passages=[*misses[:19], passage(20, "Beta met")])).mrr == 1 / 20


def test_ndcg_stays_at_most_one_when_several_passages_hit_one_quote():
    q = question()
    s = scored(q, answer("x", passages=[passage(1, "Beta met"), passage(2, "met “Gamma”")]))
    assert s.ndcg_at_10 == 1.0


def test_no_passages():
    s = scored(question(), answer("Beta met “Gamma”. [1]", citations=[citation(1, "Beta met “Gamma”")]))
    assert (s.hit_at_1, s.hit_at_5, s.evidence_recall_at_5, s.mrr, s.ndcg_at_10) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert (s.citation_recall, s.citation_precision, s.answer_recall, s.joint) == (1.0, 1.0, 1.0, 1.0)


def test_citation_precision_and_recall():
    a = answer("Alpha said one thing. [1] Beta met “Gamma”. [2]",
               citations=[citation(1, "Alpha said one thing."), citation(2, "Beta met “Gamma”")])
    s = scored(question(), a)
    assert (s.citation_recall, s.citation_precision, s.joint) == (1.0, 0.5, 1.0)


def test_no_citations_score_zero_and_break_joint():
    s = scored(question(), answer("Beta met Gamma."))
    assert (s.citation_recall, s.citation_precision, s.answer_recall, s.joint) == (0.0, 0.0, 1.0, 0.0)


def test_answer_recall_is_the_share_of_facts_covered_case_insensitively():
    q = question(answers=(("Beta", "B."), ("Monday",), ("Tuesday",)))
    s = scored(q, answer("BETA came on monday [1]", citations=[citation(1, "Beta met")]))
    assert s.answer_recall == pytest.approx(2 / 3)
    assert s.joint == 0.0


def test_refusal_accuracy_and_unanswerable_questions():
    unanswerable = question(answers=(), quotes=(), answerable=False)
    refused = scored(unanswerable, answer("The articles do not say.", refused=True))
    assert refused.refusal_accuracy == 1.0
    assert all(refused.value(name) is None for name in METRIC_NAMES[:12])
    assert scored(unanswerable, answer("Tokyo has 14 million people.")).refusal_accuracy == 0.0
    assert scored(question(), answer("The articles do not say.", refused=True)).refusal_accuracy == 0.0
    assert scored(question(), answer("Beta.")).refusal_accuracy == 1.0


def test_answer_words_skip_markers_and_latency_comes_from_timings():
    s = scored(question(), answer("Beta met Gamma. [1] [2]", total=42.0))
    assert (s.answer_words, s.latency_ms) == (3.0, 42.0)


def test_latency_is_measured_and_recorded_when_the_answer_has_no_total():
    report = evaluate([question()], lambda text, history: answer("Beta.", total=None))
    latency = report.results[0].scores.latency_ms
    assert latency is not None and latency >= 0
    assert report.results[0].answer.timings_ms["total"] == latency


def test_aggregate_means_with_fixed_seed_intervals():
    q1, q2 = question(qid="q1"), question(qid="q2")
    q3 = question(answers=(), quotes=(), answerable=False, qid="q3")
    answers = {"q1": answer("Beta [1]", [citation(1, "Beta met")], [passage(1, "Beta met")]),
               "q2": answer("Alpha [1]", [citation(1, "Alpha said")], [passage(1, "Alpha said")]),
               "q3": answer("No.", refused=True)}
    questions = [q1, q2, q3]
    ask = iter(answers[q.qid] for q in questions)
    report = evaluate(questions, lambda text, history: next(ask))
    hit = report.metric("hit@1")
    assert (hit.value, hit.n) == (0.5, 2)
    assert 0.0 <= hit.low <= 0.5 <= hit.high <= 1.0
    refusal = report.metric("refusal_accuracy")
    assert (refusal.value, refusal.low, refusal.high, refusal.n) == (1.0, 1.0, 1.0, 3)
    assert rescore(report_to_dict(report, {})) == report.metrics  # same seed, same interval


def test_all_unanswerable_file_has_only_refusal_accuracy():
    questions = [question(answers=(), quotes=(), answerable=False, qid=f"u{i}") for i in range(3)]
    report = evaluate(questions, lambda text, history: answer("Not in the articles.", refused=True))
    assert report.metric("hit@5").value is None and report.metric("hit@5").n == 0
    assert report.metric("refusal_accuracy").value == 1.0
    assert check_floors(report.metrics, ["hit@5=1.0"]) == [
        "hit@5 has no value (no question it applies to), so --min hit@5=1 cannot be met"]
    assert "hit@5                       n/a" in render_report(report)


# ---------------------------------------------------------------- citation support

def test_sentences_take_the_markers_that_follow_them():
    assert cited_sentences("Alpha said one thing. [1] Beta met Gamma. [2][3]") == (
        ("Alpha said one thing.", (1,)), ("Beta met Gamma.", (2, 3)))
    assert cited_sentences("Alpha said one thing [1]. Beta.[2] Gamma") == (
        ("Alpha said one thing.", (1,)), ("Beta.", (2,)), ("Gamma", ()))
    assert cited_sentences("• Delta four. [1]\n• Zeta six. [2]") == (
        ("• Delta four.", (1,)), ("• Zeta six.", (2,)))


def test_supported_sentence_matches_the_cited_span_with_links_quotes_and_case_folded():
    quote = "Beta met “Gamma” in [the capital](#) on Monday."
    a = answer('beta met "Gamma" in the capital on Monday. [1]', citations=[citation(1, quote, clean="")])
    assert [s.supported for s in check_support(a)] == [True]


def test_unsupported_sentences():
    a = answer("Beta met Gamma on Friday. [1] Alpha said one thing. Delta four. [7]",
               citations=[citation(1, "Beta met “Gamma” in [the capital](#) on Monday.")])
    checked = check_support(a)
    assert [(s.text, s.supported, s.entailed) for s in checked] == [
        ("Beta met Gamma on Friday.", False, None),  # not what the span says
        ("Alpha said one thing.", False, None),  # no marker
        ("Delta four.", False, None),  # marker without a citation
    ]
    assert scored(question(), a).unsupported_sentences == 3.0


def test_ellipsis_cut_sentence_and_several_cited_spans_are_supported():
    a = answer("Epsilon … is long. [1] Zeta six. [2][3]", citations=[
        citation(1, "Epsilon five is long."), citation(2, "Delta four."), citation(3, "Zeta six.")])
    assert [s.supported for s in check_support(a)] == [True, True]


def test_refusals_have_no_sentences_to_check():
    assert check_support(answer("Not in the articles. The closest passages follow.", refused=True)) == ()


def test_without_an_nli_model_the_report_says_skipped():
    cited = answer("Beta met “Gamma” [1]", [citation(1, "Beta met “Gamma”")])
    report = evaluate([question()], lambda text, history: cited)
    data = report_to_dict(report, {})
    assert data["support"] == {"checker": "substring", "nli": "skipped", "unsupported_sentences": 0,
                               "nli_unsupported_sentences": "skipped"}
    assert "NLI check: skipped" in render_report(report)


def test_nli_model_folder_must_exist(tmp_path):
    with pytest.raises(ModelError) as error:
        load_nli(tmp_path / "nli")
    assert str(error.value) == (f"--nli-model {tmp_path / 'nli'} is not a model folder (no config.json); give the "
                                "folder of a local sentence-transformers CrossEncoder trained for NLI "
                                "(docs/EVAL.md#the-nli-check)")


# ---------------------------------------------------------------- question files

def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def line(**changes) -> str:
    data = {"id": "x1", "question": "Who met Gamma?", "answers": [["Beta"]],
            "evidence": [{"doc": "a", "quote": "Beta met"}], "answerable": True}
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not ...}, ensure_ascii=False)


def test_question_file_is_read_with_evidence_ranges(tmp_path):
    path = write(tmp_path, line(), "", line(id="x2", answers=[], evidence=[], answerable=False))
    first, second = load_questions(path, DOCS)
    assert first == Question("x1", "Who met Gamma?", (("Beta",),), (evidence("Beta met"),), True, line=1)
    assert (second.qid, second.answerable, second.line) == ("x2", False, 3)


def test_history_is_read_oldest_first_and_is_optional(tmp_path):
    path = write(tmp_path, line(history=["Who met Gamma?", "Where?"]), line(id="x2", history=[]), line(id="x3"))
    with_history, empty, absent = load_questions(path, DOCS)
    assert with_history.history == ("Who met Gamma?", "Where?")
    assert empty.history == absent.history == ()


def test_dev_set_loads_against_the_real_corpus():
    documents, _ = load_corpus(PROJECT_ROOT / "corpus")
    questions = load_questions(DATA / "dev.jsonl", {d.doc_id: d for d in documents})
    by_id = {d.doc_id: d for d in documents}
    assert len(questions) == 14 and [q.qid for q in questions if not q.answerable] == ["d13"]
    assert all(by_id[e.doc_id].raw[e.start:e.end] == e.quote for q in questions for e in q.evidence)


@pytest.mark.parametrize(("lines", "message"), [
    (['{"id": "x1", "question": '], 'line 1: not valid JSON (Expecting value at column 26); '
                                    'each line must be one JSON object'),
    (['["x1"]'], "line 1: expected a JSON object, got a list"),
    ([line(evidence=...)], 'line 1: missing field "evidence"; every question needs '
                           'id, question, answers, evidence, answerable (see docs/EVAL.md#question-files)'),
    ([line(id=7)], 'line 1: field "id" must be a non-empty string, got 7'),
    ([line(question=" ")], 'line 1: field "question" must be a non-empty string, got " "'),
    ([line(answers=["Beta"])], 'line 1: field "answers" must be a list of facts, each a non-empty list of '
                               'non-empty strings, e.g. [["2024", "next year"]]; got ["Beta"]'),
    ([line(evidence={"doc": "a"})], 'line 1: field "evidence" must be a list of {"doc", "quote"} objects, '
                                    'got {"doc": "a"}'),
    ([line(answerable="yes")], 'line 1: field "answerable" must be true or false, got "yes"'),
    ([line(evidence=[{"doc": "a"}])], 'line 1: evidence[0] must be an object with string "doc" and non-empty '
                                      'string "quote"; got {"doc": "a"}'),
    ([line(evidence=[{"doc": "a.txt", "quote": "Beta"}])],
     'line 1: evidence[0] names doc "a.txt", which is not in the corpus; use the article\'s file name '
     'without .txt (did you mean "a"?)'),
    ([line(evidence=[{"doc": "zzzzzz", "quote": "Beta"}])],
     'line 1: evidence[0] names doc "zzzzzz", which is not in the corpus; use the article\'s file name '
     'without .txt (known ids: a, b)'),
    ([line(), line(id="x2", evidence=[{"doc": "a", "quote": "Beta met"}, {"doc": "b", "quote": "Beta met Gamma"}])],
     'line 2: evidence[1] quote "Beta met Gamma" is not in the raw text of b; copy it verbatim from the .txt '
     'file (markdown links and curly quotes included)'),
    ([line(), "", line()], 'line 3: id "x1" is already used on line 1; give each question its own id'),
    ([line(evidence=[])], 'line 1: an answerable question needs at least one "evidence" entry; '
                          'quote the passage that supports its answer'),
    ([line(answers=[])], 'line 1: an answerable question needs at least one fact in "answers"; '
                         'add one or set "answerable": false'),
    ([line(answerable=False)], 'line 1: an unanswerable question ("answerable": false) must have empty '
                               '"answers" and "evidence"'),
    ([line(history="Who met Beta?")], 'line 1: field "history" must be a list of the earlier questions (strings, '
                                      'oldest first) or left out; got "Who met Beta?"'),
    ([line(history=None)], 'line 1: field "history" must be a list of the earlier questions (strings, '
                           'oldest first) or left out; got null'),
    ([line(), line(id="x2", history=["Who met Beta?", 7])],
     'line 2: history[1] must be a non-empty string, the text of an earlier question; got 7'),
    ([line(history=[["Who met Beta?"]])],
     'line 1: history[0] must be a non-empty string, the text of an earlier question; got ["Who met Beta?"]'),
    ([line(history=["Who met Beta?", " "])],
     'line 1: history[1] must be a non-empty string, the text of an earlier question; got " "'),
    ([line(history=[""])], 'line 1: history[0] must be a non-empty string, the text of an earlier question; got ""'),
])
def test_malformed_question_file_names_the_line(tmp_path, lines, message):
    path = write(tmp_path, *lines)
    with pytest.raises(QuestionFileError) as error:
        load_questions(path, DOCS)
    assert str(error.value) == f"{path} {message}"


def test_missing_and_empty_question_files(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(QuestionFileError) as error:
        load_questions(missing, DOCS)
    assert str(error.value) == (f"question file {missing} does not exist; give the path of a .jsonl file "
                                "in the format of docs/EVAL.md#question-files")
    empty = write(tmp_path, "")
    with pytest.raises(QuestionFileError) as error:
        load_questions(empty, DOCS)
    assert str(error.value) == f"{empty} holds no questions; write one JSON object per line (see docs/EVAL.md#question-files)"


def test_question_file_not_utf8(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(line(question="Café?").encode("latin-1"))
    with pytest.raises(QuestionFileError) as error:
        load_questions(path, DOCS)
    assert str(error.value) == f"{path} is not UTF-8 (byte 29); save it as UTF-8"


# ---------------------------------------------------------------- reports

def oracle(questions):
    """An answerer that retrieves and cites exactly the gold evidence, quoting it."""
    by_text = {q.text: q for q in questions}

    def ask(text: str, history=()) -> Answer:
        q = by_text[text]
        citations = [Citation(n, e.doc_id, e.doc_id, 1, e.start, e.end, e.quote, "")
                     for n, e in enumerate(q.evidence, start=1)]
        passages = [Passage(Chunk(n, e.doc_id, 1, e.start, e.end, e.quote), 1.0, n)
                    for n, e in enumerate(q.evidence, start=1)]
        if not q.answerable:
            return Answer(text, "The articles do not say.", (), (), True, {"total": 5.0})
        body = " ".join(f"{e.quote.rstrip('.')}. [{n}]" for n, e in enumerate(q.evidence, start=1))
        return Answer(text, body, tuple(citations), tuple(passages), False, {"total": 5.0})

    return ask


def dev_questions():
    documents, _ = load_corpus(PROJECT_ROOT / "corpus")
    return load_questions(DATA / "dev.jsonl", {d.doc_id: d for d in documents})


def test_oracle_answers_score_perfectly_on_the_dev_set():
    questions = dev_questions()
    report = evaluate(questions, oracle(questions))
    for name in ("hit@1", "evidence_recall@5", "mrr", "ndcg@10", "citation_recall", "citation_precision",
                 "answer_recall", "joint", "refusal_accuracy"):
        assert report.metric(name).value == 1.0, name
    assert report.metric("unsupported_sentences").value == 0.0
    assert "missed 0 of 14 questions" in render_report(report)


def test_written_report_reproduces_its_own_metrics(tmp_path):
    questions = dev_questions()
    perfect = oracle(questions)

    def flawed(text: str, history=()) -> Answer:  # every other answer loses its passages and its first citation
        a = perfect(text)
        if questions[[q.text for q in questions].index(text)].line % 2:
            return Answer(a.question, a.text, a.citations[1:], (), a.refused, {"total": 7.25})
        return a

    report = evaluate(questions, flawed)
    settings = {"model": "all-MiniLM-L6-v2", "index_fingerprint": "abc", "k": 8, "answerer": "extractive"}
    path = tmp_path / "report.json"
    write_report(path, report, settings)
    data = load_report(path)
    assert data["settings"] == settings
    assert data["metrics"] == metrics_to_dict(report.metrics)
    assert 0 < data["metrics"]["hit@1"]["value"] < 1 and 0 < data["metrics"]["joint"]["value"] < 1
    # Re-scoring reads the answers and gold ranges only, never the stored scores.
    stored = data["metrics"]
    tampered = {**data, "metrics": {}, "questions": [{**q, "scores": {}} for q in data["questions"]]}
    assert metrics_to_dict(rescore(tampered)) == stored
    first = data["questions"][0]
    assert first["answer"]["question"] == questions[0].text
    assert [c["doc_id"] for c in first["answer"]["citations"]] == [e.doc_id for e in questions[0].evidence[1:]]
    assert first["evidence"][0] == {"doc": "002_04b1042d44fdcd04", "start": 0, "end": 93,
                                    "quote": questions[0].evidence[0].quote}
    assert set(first["scores"]) == set(METRIC_NAMES)


# ---------------------------------------------------------------- follow-ups

def recording(calls):
    """An answerer that notes each (question, turns) it is given and answers "answer to <question>"."""
    def ask(text, history):
        calls.append((text, tuple(history)))
        return answer(f"answer to {text}", [citation(1, "Beta met")], [passage(1, "Beta met")])
    return ask


def test_a_follow_up_is_asked_after_its_history_with_each_earlier_answer_carried():
    calls = []
    q = Question("f1", "And where?", (("Beta",),), (evidence("Beta met"),), True, history=("Who?", "When?"))
    report = evaluate([q], recording(calls))
    assert calls == [
        ("Who?", ()),
        ("When?", (Turn("Who?", "answer to Who?"),)),
        ("And where?", (Turn("Who?", "answer to Who?"), Turn("When?", "answer to When?"))),
    ]
    result = report.results[0]
    assert result.answer.text == "answer to And where?"  # only the last answer is scored
    assert result.turns == calls[-1][1]


def test_ask_in_conversation_answers_the_last_question_after_the_earlier_ones():
    calls = []
    assert ask_in_conversation(recording(calls), ["Who?"], "And where?").text == "answer to And where?"
    assert calls == [("Who?", ()), ("And where?", (Turn("Who?", "answer to Who?"),))]
    assert ask_in_conversation(recording(calls), [], "Who?").text == "answer to Who?"
    assert calls[-1] == ("Who?", ())


def test_the_report_records_the_history_asked_and_re_scores_it(tmp_path):
    q = Question("f1", "And where?", (("Beta",),), (evidence("Beta met"),), True, history=("Who?",))
    report = evaluate([q, question(qid="q2")], recording([]))
    data = report_to_dict(report, {})
    assert data["questions"][0]["history"] == [{"question": "Who?", "answer": "answer to Who?"}]
    assert data["questions"][1]["history"] == []
    again = results_from_dict(json.loads(json.dumps(data)))
    assert again[0].question.history == ("Who?",) and again[0].turns == report.results[0].turns
    assert rescore(data) == report.metrics


def test_a_miss_is_a_wrong_refusal_or_an_answer_that_lacks_a_fact_a_gold_citation_or_a_gold_passage():
    cited, gold_passage = [citation(1, "Beta met")], [passage(1, "Beta met")]
    unanswerable = question(answers=(), quotes=(), answerable=False)
    cases = [
        (question(), answer("Beta. [1]", cited, gold_passage), False),
        (question(), answer("Beta. [1]", cited, [passage(1, "Zeta six.")]), True),  # hit@5 = 0
        (question(), answer("Beta. [1]", [citation(1, "Zeta six.")], gold_passage), True),  # citation_recall = 0
        (question(answers=(("Beta",), ("Monday",))), answer("Beta. [1]", cited, gold_passage), True),
        (question(), answer("The articles don't say.", refused=True), True),
        (unanswerable, answer("The articles don't say.", refused=True), False),
        (unanswerable, answer("Beta. [1]", cited), True),
    ]
    for q, a, missed in cases:
        assert evaluate([q], lambda text, history, a=a: a).results[0].missed is missed, (q, a)


def test_render_report_names_the_earlier_questions_of_a_missed_follow_up():
    q = Question("f1", "And where?", (("Monday",),), (evidence("Beta met"),), True, history=("Who met Gamma?",))
    text = render_report(evaluate([q], recording([])))
    assert 'f1  And where?\n    after     "Who met Gamma?"\n    expected  Monday\n' in text


def test_render_report_lists_the_missed_questions():
    q = question()
    cited = answer("Alpha said one thing. [1]", [citation(1, "Alpha said one thing.")])
    report = evaluate([q], lambda text, history: cited)
    text = render_report(report)
    assert "metric                    value  95% CI                n" in text
    start, end = span("Beta met")
    assert text.endswith(
        "missed 1 of 1 questions:\n"
        "q1  Who met Gamma?\n"
        "    expected  Beta\n"
        f'    evidence  a [{start}, {end}) "Beta met"\n'
        '    answer    "Alpha said one thing. [1]"\n'
        "    cited     [1] a ¶1 [0, 21) miss")


def test_bad_report_files(tmp_path):
    missing = tmp_path / "old.json"
    with pytest.raises(ReportFileError) as error:
        load_report(missing)
    assert str(error.value) == f"report {missing} does not exist; write one with python -m rag eval --json"
    missing.write_text('{"version": 0}', encoding="utf-8")
    with pytest.raises(ReportFileError) as error:
        load_report(missing)
    assert str(error.value) == (f"{missing} is not a version-1 evaluation report (version 0); "
                                "write it again with python -m rag eval --json")
    with pytest.raises(ReportFileError) as error:
        rescore({"version": 1, "questions": [{"id": "x"}]})
    assert str(error.value) == ("the report's questions cannot be re-scored (KeyError: 'question'); "
                                "give a file written by python -m rag eval --json")


# ---------------------------------------------------------------- floors and comparison

def small_report(cite_right: bool, qids=("q1", "q2")):
    good = answer("Beta met “Gamma”. [1]", [citation(1, "Beta met “Gamma”")], [passage(1, "Beta met")])
    bad = answer("Alpha said one thing. [1]", [citation(1, "Alpha said one thing.")], [passage(1, "Alpha said")])
    questions = [question(qid=qid) for qid in qids]
    answers = iter([good, good if cite_right else bad, good])
    return evaluate(questions, lambda text, history: next(answers))


def test_floors_and_ceilings():
    metrics = small_report(cite_right=False).metrics
    assert check_floors(metrics, ["hit@5=0.5", "refusal_accuracy=1"], ["answer_words=10"]) == []
    assert check_floors(metrics, ["hit@5=1.0", "citation_precision=0.8"], ["answer_words=3"]) == [
        "hit@5 = 0.500 is below its floor 1",
        "citation_precision = 0.500 is below its floor 0.8",
        "answer_words = 3.500 is above its ceiling 3",
    ]


@pytest.mark.parametrize(("floor", "message"), [
    ("hit@9=1", "--min 'hit@9=1': unknown metric 'hit@9'; use one of: " + ", ".join(METRIC_NAMES)
     + " (docs/EVAL.md#metrics defines each)"),
    ("hit@5", "--min 'hit@5' is not METRIC=VALUE; write e.g. --min hit@5=0.9"),
    ("hit@5=high", "--min 'hit@5=high': 'high' is not a number; give a value such as 0.9"),
])
def test_bad_floors_are_refused(floor, message):
    with pytest.raises(ConfigError) as error:
        check_floors(small_report(cite_right=True).metrics, [floor])
    assert str(error.value) == message


def test_compare_gives_deltas_and_the_questions_that_got_worse():
    old = report_to_dict(small_report(cite_right=True, qids=("q1", "q2", "q0")), {})
    comparison = compare(old, small_report(cite_right=False, qids=("q1", "q2", "q3")))
    change = next(c for c in comparison.changes if c.name == "hit@1")
    assert (change.old, change.new, change.delta) == (1.0, 0.666667, -0.333333)
    assert [r.qid for r in comparison.regressions] == ["q2"]
    assert comparison.regressions[0].drops[:2] == (("hit@1", 1.0, 0.0), ("hit@3", 1.0, 0.0))
    assert (comparison.only_old, comparison.only_new) == (("q0",), ("q3",))
    text = render_comparison(comparison)
    assert "hit@1                     1.000    0.667   -0.333" in text
    assert "q2  Who met Gamma?: hit@1 1.000 → 0.000, hit@3 1.000 → 0.000" in text
    assert text.endswith("only in the old report: q0\nonly in the new report: q3")
