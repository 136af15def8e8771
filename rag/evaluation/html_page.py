"""The evaluation report as one self-contained HTML page (`python -m rag eval --html`).

The page holds the metrics with their 95% intervals, then every question,
missed ones first (`QuestionResult.missed`, defined once in `rag.evaluation.results`),
each with its history, its answer, its citations, and the source paragraphs
that hold a cited or a gold span, marked three ways: cited and gold, cited
only, gold only.

Deliberate choices:

* Highlights come from character ranges into `Document.raw` only (citations'
  `start`/`end`, the gold quotes' `raw.index(quote)` ranges): a paragraph is
  cut at every range boundary inside it (`segments`), so overlapping and
  nested ranges mark correctly. The paragraphs are shown as raw text
  (markdown links as written) because that is what the ranges index.
* One file, nothing to fetch: inline CSS, no script, no link, no image; every
  string from a report or an article goes through `html.escape`. Its one
  outside reference is a plain link from each metric's name (and from the NLI
  line) to its definition in this checkout's docs/EVAL.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

from rag.config import PROJECT_ROOT
from rag.evaluation.metrics import covers, format_value
from rag.evaluation.results import MISSED_WHEN, QuestionResult, Report
from rag.schema import Document

Range = tuple[int, int]  # [start, end) in a document's raw text

# Per-question scores shown under each question; the rest are in the JSON report.
SHOWN_SCORES = ("hit@5", "mrr", "citation_recall", "citation_precision", "answer_recall", "refusal_accuracy",
                "unsupported_sentences", "answer_words", "latency_ms")

# Where every metric and the NLI check are defined: the page links each metric's name to its section.
EVAL_DOC = PROJECT_ROOT / "docs" / "EVAL.md"

MARKS = {(True, True): "both", (True, False): "cited", (False, True): "gold"}
LEGEND = (("both", "cited and gold"), ("cited", "cited only"), ("gold", "gold only"))


@dataclass(frozen=True)
class Segment:
    """A piece of a paragraph that one set of ranges covers throughout."""

    start: int
    end: int
    cited: bool
    gold: bool

    @property
    def mark(self) -> str | None:
        """The CSS class of its <mark>: "both", "cited", "gold"; None when unmarked."""
        return MARKS.get((self.cited, self.gold))


def segments(start: int, end: int, cited: Sequence[Range], gold: Sequence[Range]) -> tuple[Segment, ...]:
    """[start, end) cut at every boundary of a cited or gold range inside it, each piece flagged by what covers
    it; neighbours with the same flags are one segment, empty ranges are ignored."""
    cuts = {start, end}
    for a, b in (*cited, *gold):
        cuts.update(x for x in (a, b) if start < x < end)
    bounds = sorted(cuts)
    pieces: list[Segment] = []
    for a, b in zip(bounds, bounds[1:]):
        is_cited = any(x < b and a < y for x, y in cited)
        is_gold = any(x < b and a < y for x, y in gold)
        if pieces and (pieces[-1].cited, pieces[-1].gold) == (is_cited, is_gold):
            pieces[-1] = Segment(pieces[-1].start, b, is_cited, is_gold)
        else:
            pieces.append(Segment(a, b, is_cited, is_gold))
    return tuple(pieces)


def marked_html(raw: str, start: int, end: int, cited: Sequence[Range], gold: Sequence[Range]) -> str:
    """raw[start:end] escaped, its cited and gold pieces wrapped in <mark class="both|cited|gold">."""
    parts = []
    for s in segments(start, end, cited, gold):
        text = escape(raw[s.start:s.end])
        parts.append(f'<mark class="{s.mark}">{text}</mark>' if s.mark else text)
    return "".join(parts)


def write_html(path: Path, report: Report, documents: Mapping[str, Document], title: str) -> None:
    """Write the page atomically: a crash never leaves half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(render_html(report, documents, title), encoding="utf-8")
    os.replace(temporary, path)


def render_html(report: Report, documents: Mapping[str, Document], title: str) -> str:
    """The whole page: metrics with intervals, the miss rule and legend, then the questions, misses first."""
    numbered = list(enumerate(report.results, start=1))
    ordered = [item for item in numbered if item[1].missed] + [item for item in numbered if not item[1].missed]
    missed = sum(r.missed for r in report.results)
    answerable = sum(r.question.answerable for r in report.results)
    summary = (f"{len(report.results)} questions ({answerable} answerable, {len(report.results) - answerable} "
               f"unanswerable); {missed} missed. NLI support check: {report.nli}.")
    legend = " ".join(f'<mark class="{cls}">{escape(label)}</mark>' for cls, label in LEGEND)
    index = "".join(f'<li class="{"missed" if r.missed else "hit"}"><a href="#q{i}">{escape(r.question.qid)}</a></li>'
                    for i, r in ordered)
    return "\n".join([
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<header><h1>{escape(title)}</h1><p>{escape(summary)}</p></header>",
        _metrics_table(report),
        '<section id="how-to-read"><h2>How to read it</h2>',
        f"<p>A question is <strong>missed</strong> when {escape(MISSED_WHEN)}. Missed questions come first, "
        "then the rest, each group in file order.</p>",
        f'<p class="legend">Spans in the source paragraphs: {legend}. Gold spans are the question file\'s '
        "evidence quotes; cited spans are the answer's citations.</p>",
        f'<ol class="index">{index}</ol></section>',
        '<section id="questions"><h2>Questions</h2>',
        *(_question_html(i, result, documents) for i, result in ordered),
        "</section></body></html>",
        "",
    ])


def definition_url(section: str) -> str:
    """The address of a section of docs/EVAL.md, by its heading ("ndcg@10", "The NLI check"), as GitHub and most
    Markdown viewers anchor headings: lower case, punctuation dropped, spaces as hyphens."""
    anchor = re.sub(r"[^\w\- ]", "", section.lower()).replace(" ", "-")
    return f"{EVAL_DOC.as_uri()}#{anchor}"


def metric_section(name: str) -> str:
    """The heading docs/EVAL.md defines a metric under: "hit@k" for hit@1, hit@3 and hit@5."""
    return name if name == "ndcg@10" else re.sub(r"@\d+$", "@k", name)


def _metrics_table(report: Report) -> str:
    rows = "".join(
        f'<tr><th scope="row"><a href="{escape(definition_url(metric_section(m.name)))}">{escape(m.name)}</a></th>'
        f"<td>{format_value(m.name, m.value)}</td>"
        f"<td>{'' if m.low is None else f'{format_value(m.name, m.low)} – {format_value(m.name, m.high)}'}</td>"
        f"<td>{m.n}</td></tr>" for m in report.metrics)
    return ('<section id="metrics"><h2>Metrics</h2><table><thead><tr><th scope="col">metric</th>'
            '<th scope="col">mean</th><th scope="col">95% interval</th><th scope="col">n</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
            f'<p>Each metric\'s name links to its definition in <a href="{escape(definition_url("Metrics"))}">'
            f'docs/EVAL.md</a>, the NLI support check\'s to <a href="{escape(definition_url("The NLI check"))}">'
            "its section</a>.</p></section>")


def _question_html(i: int, result: QuestionResult, documents: Mapping[str, Document]) -> str:
    q, a = result.question, result.answer
    verdict = "missed" if result.missed else "hit"
    parts = [f'<article class="question {verdict}" id="q{i}">',
             f'<h3><span class="verdict">{verdict}</span> <span class="qid">{escape(q.qid)}</span> '
             f'<span class="asked">{escape(q.text)}</span></h3>']
    if result.turns:
        turns = "".join(f'<li><span class="earlier">{escape(t.question)}</span>'
                        f'<span class="earlier-answer">{escape(t.answer)}</span></li>' for t in result.turns)
        parts.append(f'<div class="history"><h4>Asked after</h4><ol>{turns}</ol></div>')
    if q.answerable:
        facts = "".join(f'<li class="covered">✓ {escape(" / ".join(fact))}</li>' if covers(a.text, fact) else
                        f'<li class="uncovered">✗ {escape(" / ".join(fact))}</li>' for fact in q.answers)
        parts.append(f'<div class="expected"><h4>Expected facts</h4><ul>{facts}</ul></div>')
    else:
        parts.append('<div class="expected"><h4>Expected</h4><p>a refusal: the articles do not answer it</p></div>')
    refused = '<span class="refused">refused</span> ' if a.refused else ""
    parts.append(f'<div class="answer"><h4>Answer</h4><p>{refused}{escape(a.text)}</p></div>')
    parts.append(_citations_html(result))
    scores = " · ".join(f"{escape(name)} {format_value(name, result.scores.value(name))}" for name in SHOWN_SCORES)
    parts.append(f'<p class="scores">{scores}{escape(_first_gold_rank(result))}</p>')
    parts.append(_sources_html(result, documents))
    parts.append("</article>")
    return "\n".join(parts)


def _first_gold_rank(result: QuestionResult) -> str:
    mrr = result.scores.mrr
    if mrr is None:
        return ""
    return f" · first gold passage at rank {round(1 / mrr)}" if mrr else " · no gold passage in the top 20"


def _citations_html(result: QuestionResult) -> str:
    if not result.answer.citations:
        return '<div class="citations"><h4>Citations</h4><p>none</p></div>'
    items = []
    for c in result.answer.citations:
        gold = any(e.doc_id == c.doc_id and c.start < e.end and e.start < c.end for e in result.question.evidence)
        label = "hits gold" if gold else "no gold"
        items.append(f'<li><span class="n">[{c.n}]</span> {escape(c.title)} <span class="where">({escape(c.doc_id)}, '
                     f"¶{c.paragraph}, chars {c.start}–{c.end})</span> "
                     f'<span class="{label.replace(" ", "-")}">{label}</span></li>')
    return f'<div class="citations"><h4>Citations</h4><ol>{"".join(items)}</ol></div>'


def _sources_html(result: QuestionResult, documents: Mapping[str, Document]) -> str:
    """Per article (gold ones first), the paragraphs holding a cited or gold span, marked."""
    gold: dict[str, list[Range]] = {}
    cited: dict[str, list[Range]] = {}
    for e in result.question.evidence:
        gold.setdefault(e.doc_id, []).append((e.start, e.end))
    for c in result.answer.citations:
        cited.setdefault(c.doc_id, []).append((c.start, c.end))
    doc_ids = list(dict.fromkeys([*gold, *cited]))
    if not doc_ids:
        return ""
    blocks = []
    for doc_id in doc_ids:
        document = documents.get(doc_id)
        if document is None:
            blocks.append(f'<div class="doc"><h5>{escape(doc_id)}</h5><p>this article is not in the corpus '
                          "this page was written from</p></div>")
            continue
        doc_cited, doc_gold = cited.get(doc_id, []), gold.get(doc_id, [])
        paragraphs = "".join(
            f'<p class="para"><span class="where">{escape(label)}</span> '
            f"{marked_html(document.raw, start, end, doc_cited, doc_gold)}</p>"
            for start, end, label in _blocks(document, [*doc_cited, *doc_gold]))
        blocks.append(f'<div class="doc"><h5>{escape(document.title)} <span class="where">({escape(doc_id)})</span>'
                      f"</h5>{paragraphs}</div>")
    return f'<div class="sources"><h4>In the articles</h4>{"".join(blocks)}</div>'


def _blocks(document: Document, ranges: Sequence[Range]) -> list[tuple[int, int, str]]:
    """The paragraphs overlapping any range, and any range no paragraph holds, as (start, end, label) in order."""
    shown = [(p.start, p.end, f"¶{p.n}" if p.kind == "body" else p.kind)
             for p in document.paragraphs if any(a < p.end and p.start < b for a, b in ranges)]
    shown += [(a, b, "outside paragraphs") for a, b in ranges
              if a < b and not any(a < p.end and p.start < b for p in document.paragraphs)]
    return sorted(set(shown))


CSS = """
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; background: #fafafa;
       margin: 0 auto; max-width: 62rem; padding: 1rem 1.5rem 4rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin: 0 0 .6rem; }
h4 { font-size: .8rem; text-transform: uppercase; letter-spacing: .05em; color: #555; margin: .8rem 0 .2rem; }
h5 { font-size: .95rem; margin: .6rem 0 .2rem; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .15rem .8rem .15rem 0; text-align: left; }
td { text-align: right; }
thead th { border-bottom: 1px solid #999; }
tbody th { font-weight: normal; }
.index { display: flex; flex-wrap: wrap; gap: .3rem; list-style: none; padding: 0; }
.index a { display: inline-block; padding: 0 .4rem; border-radius: 3px; text-decoration: none; color: inherit; }
.index .missed a { background: #fde2e1; }
.index .hit a { background: #e3f4e1; }
.question { background: #fff; border: 1px solid #ddd; border-left: 6px solid #2e8b57; border-radius: 4px;
            padding: .8rem 1rem; margin: 1rem 0; }
.question.missed { border-left-color: #c62828; }
.verdict { font-size: .75rem; text-transform: uppercase; padding: .1rem .4rem; border-radius: 3px;
           background: #2e8b57; color: #fff; vertical-align: middle; }
.missed .verdict { background: #c62828; }
.qid, .where { color: #666; font-weight: normal; font-size: .85rem; }
.history ol { margin: 0; padding-left: 1.4rem; }
.earlier { display: block; font-style: italic; }
.earlier-answer { display: block; color: #555; font-size: .9rem; }
.expected ul { list-style: none; padding: 0; margin: 0; }
.covered { color: #1b5e20; }
.uncovered { color: #b71c1c; }
.question p { margin: .2rem 0; }
.answer p { white-space: pre-wrap; }
.refused { font-size: .75rem; text-transform: uppercase; background: #555; color: #fff; padding: .05rem .3rem;
           border-radius: 3px; }
.citations ol { margin: 0; padding-left: 0; list-style: none; }
.hits-gold, .no-gold { font-weight: 600; white-space: nowrap; }
.hits-gold { color: #1b5e20; }
.no-gold { color: #b71c1c; }
.scores { font-size: .8rem; color: #555; font-variant-numeric: tabular-nums; }
.para { white-space: pre-wrap; margin: .3rem 0; padding-left: .6rem; border-left: 2px solid #eee; }
mark { color: inherit; padding: 0 1px; border-radius: 2px; }
mark.both { background: #b9e6b0; border-bottom: 2px solid #2e7d32; }
mark.cited { background: #ffe0b2; border-bottom: 2px dotted #e65100; }
mark.gold { background: #cfe3ff; border-bottom: 2px dashed #1565c0; }
"""
