"""The HTML evaluation report: segmenting and marking on hand-made ranges, then a written page in Chromium.

The page's report comes from `evaluate(questions, ask)` over a small question file on the real corpus, with
answers built by hand from real spans of the articles (our own data, so which question misses is known).
A screenshot goes to tests/artifacts/eval-report.png for a person to look at.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.answer.citations import cite
from rag.config import PROJECT_ROOT
from rag.evaluation.html_page import Segment, marked_html, render_html, segments, write_html
from rag.evaluation.questions import load_questions
from rag.evaluation.results import MISSED_WHEN
from rag.evaluation.run import evaluate
from rag.ingest.corpus import load_corpus
from rag.schema import Answer, Chunk, Document, Passage
from tests.conftest import ARTIFACTS

ARTICLE = "001_2937925d5f1f2c3c"


# ---------------------------------------------------------------- segments on hand-made ranges

def test_no_ranges_leave_one_unmarked_segment():
    assert segments(10, 30, [], []) == (Segment(10, 30, False, False),)


def test_overlapping_cited_and_gold_ranges_split_into_cited_both_gold():
    assert segments(10, 30, [(12, 20)], [(15, 25)]) == (
        Segment(10, 12, False, False), Segment(12, 15, True, False), Segment(15, 20, True, True),
        Segment(20, 25, False, True), Segment(25, 30, False, False))


def test_nested_ranges():
    assert segments(10, 30, [(14, 18)], [(10, 30)]) == (
        Segment(10, 14, False, True), Segment(14, 18, True, True), Segment(18, 30, False, True))
    # Two cited ranges, one inside the other, inside a gold one: the inner cut points do not split the marks.
    assert segments(0, 10, [(2, 8), (4, 6)], [(1, 9)]) == (
        Segment(0, 1, False, False), Segment(1, 2, False, True), Segment(2, 8, True, True),
        Segment(8, 9, False, True), Segment(9, 10, False, False))


def test_adjacent_ranges_touch_without_overlapping():
    assert segments(0, 20, [(0, 5), (5, 10)], []) == (Segment(0, 10, True, False), Segment(10, 20, False, False))
    assert segments(0, 20, [(0, 10)], [(10, 20)]) == (Segment(0, 10, True, False), Segment(10, 20, False, True))


def test_ranges_are_clipped_to_the_paragraph_and_empty_ones_ignored():
    assert segments(10, 30, [(0, 12), (20, 20)], [(28, 50), (40, 60)]) == (
        Segment(10, 12, True, False), Segment(12, 28, False, False), Segment(28, 30, False, True))


def test_marks_wrap_the_escaped_raw_text():
    raw = 'say <b>"hi"</b> & go'
    assert marked_html(raw, 0, len(raw), [(4, 11)], [(8, 15)]) == (
        'say <mark class="cited">&lt;b&gt;&quot;</mark><mark class="both">hi&quot;</mark>'
        '<mark class="gold">&lt;/b&gt;</mark> &amp; go')


# ---------------------------------------------------------------- a written page in Chromium

LAVROV = "What did Russia's foreign minister Lavrov say about the Asia-Pacific?"
EXAMPLE = "Which partnership did he give as an example?"
EMBASSY = "Through which embassy does Japan contact NATO?"
POPULATION = "What is the population of Tokyo?"
AUKUS = "the creation of the AUKUS partnership"
LAVROV_SAID = "Russian Foreign Minister Sergei Lavrov said following the East Asia Summit"
SHOIGU = "In turn, Russian Defense Minister Sergei Shoigu"
DANISH = "Japan is now in official contact with NATO through the Danish Embassy."


@pytest.fixture(scope="module")
def documents() -> dict[str, Document]:
    loaded, _ = load_corpus(PROJECT_ROOT / "corpus")
    return {d.doc_id: d for d in loaded}


def question_file(tmp_path: Path) -> Path:
    rows = [
        {"id": "embassy", "question": EMBASSY, "answers": [["Danish Embassy"]],
         "evidence": [{"doc": ARTICLE, "quote": "through the Danish Embassy"}], "answerable": True},
        {"id": "aukus", "question": EXAMPLE, "history": [LAVROV], "answers": [["AUKUS"]],
         "evidence": [{"doc": ARTICLE, "quote": AUKUS}, {"doc": ARTICLE, "quote": LAVROV_SAID}],
         "answerable": True},
        {"id": "tokyo", "question": POPULATION, "answers": [], "evidence": [], "answerable": False},
    ]
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def hand_made_answers(documents: dict[str, Document]):
    """Answers citing real spans: right for the embassy question, beside the gold AUKUS sentence for the
    follow-up (it cites Lavrov's words, gold, and Shoigu's, not gold), a refusal for Tokyo."""
    document = documents[ARTICLE]

    def quoted(n: int, quote: str):
        start = document.raw.index(quote)
        end = start + len(quote)
        paragraph = next(p.n for p in document.paragraphs if p.start <= start < p.end)
        citation = cite(n, document, paragraph, start, end, quote)
        return citation, Passage(Chunk(n, ARTICLE, paragraph, start, end, quote), 1.0 / n, n)

    def answer(question: str, text: str, *quotes: str, refused: bool = False) -> Answer:
        pairs = [quoted(n, q) for n, q in enumerate(quotes, start=1)]
        return Answer(question, text, tuple(c for c, _ in pairs), tuple(p for _, p in pairs), refused, {"total": 9.0})

    answers = {
        EMBASSY: answer(EMBASSY, f"{DANISH} [1]", DANISH),
        LAVROV: answer(LAVROV, f"{LAVROV_SAID}. [1]", LAVROV_SAID),
        EXAMPLE: answer(EXAMPLE, f"{LAVROV_SAID}. [1] {SHOIGU}. [2]", LAVROV_SAID, SHOIGU),
        POPULATION: answer(POPULATION, "The articles don't say.", refused=True),
    }
    return lambda question, history: answers[question]


def test_report_page_lists_misses_first_with_gold_only_spans_marked(browser, documents, tmp_path):
    questions = load_questions(question_file(tmp_path), documents)
    report = evaluate(questions, hand_made_answers(documents))
    assert [r.missed for r in report.results] == [False, True, False]
    path = tmp_path / "report.html"
    write_html(path, report, documents, title="Evaluation of questions.jsonl")

    requested: list[str] = []
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.on("request", lambda request: requested.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")

    assert requested == [path.as_uri()]  # nothing fetched but the page itself
    assert page.locator("script, link, img, iframe, object, embed").count() == 0
    assert page.locator("#metrics tbody tr").count() == 16
    assert "95% interval" in page.locator("#metrics thead").inner_text()
    assert MISSED_WHEN in page.locator("#how-to-read").inner_text()

    order = page.locator("article.question .qid").all_inner_texts()
    assert order == ["aukus", "embassy", "tokyo"]  # the miss first, though it is line 2
    missed = page.locator("article.question.missed")
    assert missed.count() == 1 and missed.locator(".qid").inner_text() == "aukus"
    assert missed.locator(".earlier").all_inner_texts() == [LAVROV]
    assert missed.locator("mark.gold").all_inner_texts() == [AUKUS]  # the gold evidence the answer missed
    assert missed.locator("mark.both").all_inner_texts() == [LAVROV_SAID]
    assert missed.locator("mark.cited").all_inner_texts() == [SHOIGU]
    hit = page.locator("article.question.hit", has=page.locator(".qid", has_text="embassy"))
    assert hit.locator("mark.gold").count() == 0
    assert hit.locator("mark.both").all_inner_texts() == ["through the Danish Embassy"]

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "eval-report.png"), full_page=True)
    page.close()


def test_every_text_of_the_report_is_escaped(documents, tmp_path):
    hostile = "<script>alert(1)</script>"
    document = documents[ARTICLE]
    start = document.raw.index(DANISH)
    answer = Answer(hostile, f"{hostile} [1]", (cite(1, document, 1, start, start + 4, hostile),), (), False,
                    {"total": 1.0})
    path = tmp_path / "hostile.jsonl"
    path.write_text(json.dumps({"id": hostile, "question": hostile, "history": [hostile], "answers": [[hostile]],
                                "evidence": [{"doc": ARTICLE, "quote": DANISH}], "answerable": True}) + "\n",
                    encoding="utf-8")
    page = render_html(evaluate(load_questions(path, documents), lambda question, history: answer), documents, hostile)
    assert "<script" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5  # title, heading, id, question, history, answer


def test_every_metric_links_to_its_definition_in_docs_eval(documents, tmp_path):
    import re

    from tests.doc_links import broken

    from rag.evaluation.metrics import METRIC_NAMES

    page = render_html(evaluate(load_questions(question_file(tmp_path), documents), hand_made_answers(documents)),
                       documents, "Evaluation")
    links = re.findall(r'<a href="(file://[^"]+)">([^<]+)</a>', page)
    assert {text for _, text in links} >= {*METRIC_NAMES, "docs/EVAL.md"}
    assert [why for url, _ in links if (why := broken(url))] == []
