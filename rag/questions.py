"""Questions as typed: checked, cleaned for search, and read against the conversation.

Follow-ups: a question leans on the previous turn when it starts with
"and"/"but"/"what about", has at most two words of its own, or refers back
with a pronoun ("it", "they", "that"...). Then the previous question is its
context, so "And Russia?" after "What did China say about the office?" is
searched as Russia plus the office.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from rag.schema import QuestionError, Turn
from rag.terms import terms

_FOLLOWUP_START = re.compile(r"^\s*(and|but|also|what about|how about|so|then|why|and what about)\b", re.IGNORECASE)
_BACK_REFERENCE = re.compile(r"\b(it|its|they|them|their|he|him|his|she|her|that|this|those|these|there)\b",
                             re.IGNORECASE)
_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_MARKDOWN_MARKS = re.compile(r"[*_`#>~]+|!?\[([^\]]*)\]\([^)]*\)")


def normalise_question(question: str, max_chars: int) -> str:
    """The question with control characters as spaces; QuestionError if empty or too long."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    if len(question) > max_chars:
        raise QuestionError(f"the question has {len(question)} characters; the limit is {max_chars} "
                            "(setting max_question_chars, RAG_MAX_QUESTION_CHARS)")
    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") else ch for ch in question)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QuestionError("the question is empty; type a question about the articles")
    return cleaned


def searchable(question: str) -> str:
    """The words of a question pasted with HTML or markdown around them (the answer keeps the original)."""
    text = _TAG.sub(" ", _SCRIPT_OR_STYLE.sub(" ", question))
    text = _MARKDOWN_MARKS.sub(lambda m: m.group(1) or " ", text)
    return " ".join(text.split()) or question


def followup_context(question: str, history: Sequence[Turn]) -> str:
    """The previous question when `question` leans on it, else ""."""
    if not history:
        return ""
    previous = history[-1].question.strip()
    own_terms = terms(question)
    if _FOLLOWUP_START.search(question) or len(own_terms) <= 2 or _BACK_REFERENCE.search(question):
        return previous
    return ""
