"""Asking a question the way a chat does: after the earlier questions of its conversation.

A question file's `history` holds only the earlier questions (docs/EVAL.md);
their answers come from asking them again, in order, each with the turns
before it, exactly as a user typing them into the chat would have seen.
`rag eval` and `rag ask --questions` both go through here, so a follow-up is
answered the same way by both. `ask` is injected (`RAG.ask`, or a hand-made
answerer in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rag.schema import Answer, Turn

# Earlier turns a conversation carries: the chat keeps the last these many, POST /api/ask takes at most these.
MAX_TURNS = 50
Ask = Callable[[str, Sequence[Turn]], Answer]  # (question, earlier turns) -> answer, like RAG.ask


def earlier_turns(ask: Ask, history: Sequence[str]) -> tuple[Turn, ...]:
    """Each earlier question asked in order with the turns before it; the turns, each carrying its answer's text."""
    turns: list[Turn] = []
    for question in history:
        turns.append(Turn(question=question, answer=ask(question, tuple(turns)).text))
    return tuple(turns)


def ask_in_conversation(ask: Ask, history: Sequence[str], question: str) -> Answer:
    """The answer to `question` asked after the earlier questions `history` (oldest first)."""
    return ask(question, earlier_turns(ask, history))
