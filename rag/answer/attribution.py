"""Whose words a paragraph holds: the paragraphs its attribution may sit in.

News prose attributes a quote once and lets pronouns carry it on:

    "…is clearly aimed at containing China," Kistanov said.
    He also expressed confidence that…
    At the same time, from his point of view, such a course can lead to…

The last paragraph is Kistanov's though his name is two paragraphs back. A
paragraph's scope is itself and the paragraph before (a quote is often
attributed at its end or just before). A paragraph that speaks of "he" or
"she" in its first sentence reaches further back, while the earliest
paragraph in its scope does the same or is a quote running on ("I think…"),
at most MAX_CARRIED paragraphs further: a surface rule, like the others in
`rag.answer.asked`, with no coreference model behind it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MAX_CARRIED = 2
# "He added…", "from his point of view…", and a quote running on from the paragraph before ("I think…").
_CONTINUING = re.compile(r"\b(?i:he|she|his|her|him)\b|\bI\b|^[\"“‘']")
_FIRST_SENTENCE = re.compile(r"^.*?[.!?](?=\s|$)|^.*$", re.DOTALL)


def scope_starts(paragraphs: Sequence[str]) -> list[int]:
    """For each paragraph of one document, in order, the index of the first paragraph of its scope."""
    starts = []
    for i in range(len(paragraphs)):
        start = max(i - 1, 0)
        # Only a paragraph that itself speaks of "he" reaches past the one before: one that names its
        # own speaker ("Vasily Kashin … suggested") is not the previous speaker's.
        while (start > 0 and i - 1 - start < MAX_CARRIED and _continues(paragraphs[i])
               and _continues(paragraphs[start])):
            start -= 1
        starts.append(start)
    return starts


def _continues(paragraph: str) -> bool:
    """Whether the paragraph goes on about someone named before it."""
    return bool(_CONTINUING.search(_FIRST_SENTENCE.match(paragraph.strip()).group(0)))
