"""Scripted evaluation: question file → per-question scores → `Report`, one job per module.

In the order an evaluation runs:

    questions.py    reading question files (docs/EVAL.md) into `Question`s
    run.py          `evaluate(questions, ask)`: each question asked after its history, scored
    support.py      the per-sentence citation-support check (substring, optional NLI)
    metrics.py      the per-question `Scores`, their means and bootstrap intervals
    results.py      `QuestionResult` (with the one definition of a miss) and `Report`
    answer_json.py  the one place evaluation turns an `Answer` into JSON and back
    report_file.py  the JSON report: write, load, re-score
    floors.py       `--min` / `--max`
    compare.py      `--compare`: what changed since an earlier report
    tables.py       the plain-text tables the CLI prints
    html_page.py    the one-page HTML report (`--html`)

The answering function is injected (`evaluate(questions, ask)`, `ask(question,
history)` like `RAG.ask`), so everything here runs on hand-made `Answer`s as
well as on the pipeline. A question with a `history` is asked after its
earlier questions, as a chat would (`rag.answer.conversation`); only its own answer
is scored, and the report records the earlier turns with the answers they got.

Definitions beyond the question-file format, and deliberate choices (docs/EVAL.md says them all to users):

* Quality metrics (hit@k to joint) apply to answerable questions only;
  unanswerable ones count only in refusal_accuracy. unsupported_sentences,
  answer_words and latency_ms are averaged over all questions.
* Ranks are positions in rank order, so `mrr` counts the top 20 passages
  the answer lists and `ndcg@10` the top 10.
* citation_precision of an answer without citations is 0, refusals included:
  it supports nothing it says.
* ndcg@10: binary relevance (the passage hits some gold evidence), gain
  1/log2(rank+1). The ideal ranking puts R relevant passages first, with
  R = min(10, max(gold evidence entries, relevant passages retrieved)): one
  passage per evidence place, or more when several chunks overlap one quote,
  so the value stays within [0, 1].
* joint (KILT-style): the answer covers all its facts AND cites gold evidence.
* A question is *missed* (`QuestionResult.missed`, the one definition the
  text table, the JSON report and the HTML page use) when its refusal was
  wrong, or when it is answerable and its answer cites no gold evidence,
  misses a fact, or its top 5 passages hit no gold evidence.
* answer_words counts the answer's words with its [n] markers removed;
  latency_ms is `timings_ms["total"]` when the answer carries it, else the
  time `ask` took (then written into the answer's timings).
* The 95% interval is a percentile bootstrap (1000 resamples, seed 0, per
  metric), so re-scoring a report gives the same interval.
* Citation support, in the spirit of ALCE: each answer sentence with its
  [n] markers is supported when, markdown and quotes folded and case
  ignored, it is found inside the text of the spans it cites. That is exact
  for extractive answers; paraphrasing (LLM) answers need the optional NLI
  cross-encoder, whose verdicts are recorded but cannot be re-scored without
  the model.
* Scores are computed from the answer exactly as the report stores it (JSON
  round trip), so re-scoring the file reproduces them to the last digit.
"""
