"""Odd questions: each gets an answer or a clear refusal, never a traceback."""

from __future__ import annotations

import pytest

from rag.pipeline import RAG
from rag.schema import QuestionError


@pytest.mark.parametrize("question", [
    "?!?!...",
    "🙂🙂🙂",
    "東京事務所に反対したのは誰ですか？",
    "¿Quién es el alcalde de Lima?",
    "a",
])
def test_questions_without_an_answer_in_the_articles_are_refused(rag: RAG, question: str):
    answer = rag.ask(question)
    assert answer.refused and answer.citations == ()
    assert answer.text == "The articles don't say. The closest passages are listed below."
    assert answer.question == question


@pytest.mark.parametrize("question", [
    "Who\x00 opposed\x07 the\x1b Tokyo office?",
    "<script>alert(1)</script> Who opposed the **Tokyo** office?",
    "<b>Who</b> opposed the [Tokyo office](http://example.com)?",
])
def test_control_characters_and_markup_do_not_hide_the_question(rag: RAG, question: str):
    answer = rag.ask(question)
    assert not answer.refused
    assert any("Macron" in c.clean for c in answer.citations)


def test_markup_stays_in_the_echoed_question_only(rag: RAG):
    answer = rag.ask("<script>alert(1)</script> Who opposed the Tokyo office?")
    assert answer.question == "<script>alert(1)</script> Who opposed the Tokyo office?"
    assert "<script>" not in answer.text


def test_a_hundred_thousand_characters_are_rejected_naming_the_limit(rag: RAG):
    with pytest.raises(QuestionError) as caught:
        rag.ask("why " * 25_000)
    assert str(caught.value) == ("the question has 100000 characters; the limit is 2000 "
                                 "(setting max_question_chars, RAG_MAX_QUESTION_CHARS)")


def test_question_length_limit_is_a_setting(rag: RAG):
    strict = RAG(rag.settings.replace(max_question_chars=10), rag.embedder)
    with pytest.raises(QuestionError, match="the limit is 10 "):
        strict.ask("Who opposed the Tokyo office?")
