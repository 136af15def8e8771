"""The plain-text tables `python -m rag eval` prints: the report with its misses, and a comparison."""

from __future__ import annotations

from rag.evaluation.compare import Comparison
from rag.evaluation.metrics import evidence_hits, format_value
from rag.evaluation.questions import show
from rag.evaluation.results import QuestionResult, Report


def render_report(report: Report) -> str:
    """The metrics with their intervals, then each missed question: what was expected, what was cited."""
    answerable = sum(r.question.answerable for r in report.results)
    total_unsupported = sum(int(r.scores.unsupported_sentences) for r in report.results)
    lines = [f"{len(report.results)} questions ({answerable} answerable, {len(report.results) - answerable} "
             f"unanswerable)", "", f"{'metric':<22} {'value':>8}  {'95% CI':<18} {'n':>4}"]
    for m in report.metrics:
        ci = "" if m.low is None else f"[{format_value(m.name, m.low)}, {format_value(m.name, m.high)}]"
        lines.append(f"{m.name:<22} {format_value(m.name, m.value):>8}  {ci:<18} {m.n:>4}")
    nli = "skipped" if report.nli == "skipped" else \
        f"{sum(s.entailed is False for r in report.results for s in r.sentences)} not entailed ({report.nli})"
    lines += ["", f"unsupported sentences: {total_unsupported} in total; NLI check: {nli}"]
    missed = [r for r in report.results if r.missed]
    lines += ["", f"missed {len(missed)} of {len(report.results)} questions" + (":" if missed else "")]
    for r in missed:
        lines += [f"{r.question.qid}  {r.question.text}"] + [f"    {line}" for line in _miss_lines(r)]
    return "\n".join(lines)


def _miss_lines(result: QuestionResult) -> list[str]:
    q, a = result.question, result.answer
    after = [f"after     {show(t.question)}" for t in result.turns]
    if not q.answerable:
        expected = ["expected  a refusal"]
    else:
        expected = ["expected  " + "; ".join(" / ".join(fact) for fact in q.answers)]
        expected += [f"evidence  {e.doc_id} [{e.start}, {e.end}) {show(e.quote)}" for e in q.evidence]
    answered = [f"answer    {'(refused) ' if a.refused else ''}{show(a.text, 100)}"]
    cited = [f"cited     [{c.n}] {c.doc_id} ¶{c.paragraph} [{c.start}, {c.end}) "
             f"{'hit' if evidence_hits(c.doc_id, c.start, c.end, q.evidence) else 'miss'}" for c in a.citations]
    return after + expected + answered + (cited or ["cited     nothing"])


def render_comparison(comparison: Comparison) -> str:
    """Each metric old → new with its change, then the questions that got worse."""
    lines = [f"{'metric':<22} {'old':>8} {'new':>8} {'change':>8}"]
    for c in comparison.changes:
        delta = "n/a" if c.delta is None else f"{c.delta:+.3f}"
        lines.append(f"{c.name:<22} {format_value(c.name, c.old):>8} {format_value(c.name, c.new):>8} {delta:>8}")
    lines += ["", f"worse on {len(comparison.regressions)} question(s)" + (":" if comparison.regressions else "")]
    for r in comparison.regressions:
        drops = ", ".join(f"{name} {format_value(name, was)} → {format_value(name, now)}"
                          for name, was, now in r.drops)
        lines.append(f"{r.qid}  {r.question}: {drops}")
    if comparison.only_old:
        lines.append("only in the old report: " + ", ".join(comparison.only_old))
    if comparison.only_new:
        lines.append("only in the new report: " + ", ".join(comparison.only_new))
    return "\n".join(lines)
