"""`LearnedAnswerer`: extractive answers whose every decision is a fitted model's.

It holds no hand-set weights. Over the generic signals of `rag.answer.signals`, the
model of `rag.answer.learned` (fitted by `python -m rag train`):

1. scores every sentence of the retrieved passages (the sentence model), best first;
2. says whether the best sentences answer the question at all (the answer
   model); if not, the answer is a refusal naming what is missing, in the
   corpus's own word for its documents, and still lists the closest passages;
3. says, for each next-best sentence, whether it joins the answer (the
   further-sentence model), as long as the word budget holds (larger for
   questions that ask for several things).

The one fixed rule: a question with no word of its own to look for is refused,
since no signal can say anything of it. A sentence that ends in a colon
introduces the next one, so the two are cited as one span (`SentenceStore.span_ids`).
Chosen with `RAG_ANSWERER=learned`; `rag.evaluation.crossval` judges it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rag.answer.answering import cite_run, cite_sentence, finished, mentioned_names, span_words
from rag.answer.asked import Asked, asked, refusal
from rag.answer.learned import LearnedModel
from rag.answer.sentence_store import SentenceStore
from rag.answer.signals import Candidates, answer_signals, candidates, further_signals
from rag.schema import Answer, Citation, Reading, Retrieval

# Next-best sentences the further-sentence model weighs (at fitting, too: `rag.evaluation.training`).
FURTHER_CANDIDATES = 8


@dataclass(frozen=True)
class Ranked:
    """A question's candidates as the sentence model ranks them, and whether the answer model answers."""

    candidates: Candidates
    order: tuple[int, ...]  # rows of `candidates`, best first
    logits: np.ndarray  # the sentence model's, per row
    answers: bool


class LearnedAnswerer:
    def __init__(self, store: SentenceStore, model: LearnedModel, max_words: int = 60, max_list_words: int = 120,
                 url_prefix: str = "", documents_noun: str = "articles") -> None:
        self.store = store
        self.model = model
        self.max_words = max_words
        self.max_list_words = max_list_words
        self.url_prefix = url_prefix
        self.documents_noun = documents_noun

    def answer(self, reading: Reading, retrieval: Retrieval) -> Answer:
        started = time.perf_counter()
        ranked = self.rank(reading, retrieval)
        if not ranked.answers:
            return finished(reading, retrieval, started, self.refusal(reading.text, ranked.candidates.asked_for))
        runs = self.quoted(ranked.candidates, self.select(ranked))
        citations = [cite_run(self.store, n, run, self.url_prefix) for n, run in enumerate(runs, start=1)]
        return finished(reading, retrieval, started, " ".join(f"{c.clean} [{c.n}]" for c in citations), citations)

    def evidence(self, reading: Reading, retrieval: Retrieval, limit: int = 8) -> list[Citation]:
        """The `limit` best sentences as citations numbered from 1; empty when the model would not answer."""
        ranked = self.rank(reading, retrieval)
        if not ranked.answers:
            return []
        return [self._cite(n, ranked.candidates.sentence_ids[row])
                for n, row in enumerate(ranked.order[:limit], start=1)]

    def rank(self, reading: Reading, retrieval: Retrieval) -> Ranked:
        """The candidates best first, and whether to answer from them (`rag.evaluation.training` fits on the same)."""
        found = candidates(self.store, reading, retrieval, asked(reading.text))
        # A question with no word of its own to look for ("a", "?!") has nothing a sentence could answer.
        if not found.sentence_ids or not found.weights:
            return Ranked(found, (), np.zeros(0), False)
        logits = self.model.sentence.logits(found.features)
        order = tuple(int(i) for i in np.argsort(-logits, kind="stable"))
        signals = answer_signals(found, order, logits, follow_up=bool(reading.context))
        return Ranked(found, order, logits, self.model.answer.logit(signals) >= 0.0)

    def refusal(self, question: str, asked_for: Asked) -> str:
        return refusal(asked_for, mentioned_names(self.store, question), self.documents_noun)

    def quoted(self, found: Candidates, chosen: list[int]) -> list[list[int]]:
        """The chosen rows as runs of sentence ids to quote, in the order chosen: sentences next to each other
        in a paragraph are one quote ("Northside is open Monday to Saturday. It opens late on Thursdays…")."""
        runs: list[list[int]] = []
        for row in chosen:
            ids = self.store.span_ids(found.sentence_ids[row])
            run = next((r for r in runs if self._adjoins(r, ids)), None)
            if run is None:
                runs.append(list(ids))
            else:
                run[:] = sorted(set(run) | set(ids))
        return runs

    def _adjoins(self, run: list[int], ids: list[int]) -> bool:
        sentences = self.store.sentences
        low, high = min(ids), max(ids)
        return any(abs(j - i) <= 1 and sentences[i].doc_id == sentences[j].doc_id
                   and sentences[i].paragraph == sentences[j].paragraph for i in (low, high) for j in run)

    def select(self, ranked: Ranked) -> list[int]:
        """The best row, then each next-best the further-sentence model admits, within the word budget."""
        found = ranked.candidates
        budget = self.max_list_words if found.question["listing"] else self.max_words
        best = ranked.order[0]
        chosen = [best]
        words = self._words(found.sentence_ids[best])
        covered = found.covered[best]
        inside = set(self.store.span_ids(found.sentence_ids[best]))
        for row in ranked.order[1:1 + FURTHER_CANDIDATES]:
            sentence_id = found.sentence_ids[row]
            if sentence_id in inside:
                continue
            signals = further_signals(self.store, found, row, chosen, ranked.logits, covered)
            length = self._words(sentence_id)
            if self.model.further.logit(signals) < self.model.further_threshold or words + length > budget:
                continue
            chosen.append(row)
            inside.update(self.store.span_ids(sentence_id))
            words += length
            covered |= found.covered[row]
        return chosen

    def _words(self, sentence_id: int) -> int:
        return span_words(self.store, sentence_id)

    def _cite(self, n: int, sentence_id: int) -> Citation:
        return cite_sentence(self.store, n, sentence_id, self.url_prefix)
