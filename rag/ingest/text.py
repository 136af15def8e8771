"""Readable text with a map back to the raw file, and sentence splitting.

Raw articles carry markdown links (`[words](#)`), emphasis marks and ragged
whitespace. Readers and the embedding model should see only the words, while
citations must point into the raw bytes. `clean_text` therefore returns the
readable string together with, for every character of it, the offset of the
raw character it came from; any clean span maps back with `raw_span`.

Sentence splitting is a rule-based splitter tuned for English news prose
(abbreviations, initials, closing quotes). A statistical splitter would be a
dependency for little gain on this kind of text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# `[words](target)` and `![alt](target)`: keep the words, drop the target.
_LINK = re.compile(r"!?\[([^\]\n]*)\]\(([^)\n]*)\)")
_EMPHASIS = re.compile(r"(\*{1,2}|_{2})(?=\S)([^*\n]+?)(?<=\S)\1")


@dataclass(frozen=True)
class CleanText:
    text: str
    offsets: tuple[int, ...]  # offsets[i] is the raw index of text[i]
    # ends[i] is the raw end of text[i] when one character stands for several raw ones
    # (an HTML entity such as `&amp;`); empty when every character is one raw character.
    ends: tuple[int, ...] = ()

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The raw `[start, end)` range covering clean characters `[start, end)`."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"clean span [{start}, {end}) is outside 0..{len(self.text)}")
        return self.offsets[start], (self.ends[end - 1] if self.ends else self.offsets[end - 1] + 1)


def clean_text(raw: str, segments: tuple[tuple[int, int], ...]) -> CleanText:
    """Readable text of the raw `segments`, joined by single spaces."""
    chars: list[str] = []
    offsets: list[int] = []
    for seg_start, seg_end in segments:
        if chars:
            chars.append(" ")
            offsets.append(seg_start - 1 if seg_start > 0 else seg_start)
        _append_segment(raw, seg_start, seg_end, chars, offsets)
    return _fold_whitespace(chars, offsets)


def _append_segment(raw: str, start: int, end: int, chars: list[str], offsets: list[int]) -> None:
    keep = [True] * (end - start)
    segment = raw[start:end]
    for match in _LINK.finditer(segment):
        for i in range(match.start(), match.end()):
            keep[i] = False
        for i in range(match.start(1), match.end(1)):
            keep[i] = True
    for match in _EMPHASIS.finditer(segment):
        for i in range(match.start(1), match.end(1)):
            keep[i] = False
        for i in range(match.end(2), match.end()):
            keep[i] = False
    for i, ch in enumerate(segment):
        if keep[i]:
            # Control characters (NUL, form feed...) would confuse tokenisers and
            # HTML alike; they read as spaces.
            chars.append(" " if (ch.isspace() or ord(ch) < 32 or ch == "\ufeff") else ch)
            offsets.append(start + i)


def _fold_whitespace(chars: list[str], offsets: list[int]) -> CleanText:
    out_chars: list[str] = []
    out_offsets: list[int] = []
    for ch, off in zip(chars, offsets, strict=True):
        if ch == " " and (not out_chars or out_chars[-1] == " "):
            continue
        out_chars.append(ch)
        out_offsets.append(off)
    while out_chars and out_chars[-1] == " ":
        out_chars.pop()
        out_offsets.pop()
    return CleanText("".join(out_chars), tuple(out_offsets))


_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "no", "vs", "etc", "gen", "col", "lt", "sgt", "capt",
    "gov", "sen", "rep", "jr", "sr", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "e.g", "i.e", "approx", "dept",
}
# A boundary: terminal punctuation, optional closing quotes/brackets, whitespace,
# then something that can open a sentence.
_BOUNDARY = re.compile(r"([.!?]+)([\"'”’)\]]*)(\s+)(?=[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ])")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """`[start, end)` spans of the sentences of `text`, whitespace excluded."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if match.group(1) == "." and _is_abbreviation(text, match.start(1)):
            continue
        end = match.end(2)
        if text[start:end].strip():
            spans.append((start, end))
        start = match.end(3)
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans


def _is_abbreviation(text: str, dot: int) -> bool:
    word_start = dot
    while word_start > 0 and not text[word_start - 1].isspace() and text[word_start - 1] not in "\"“(":
        word_start -= 1
    word = text[word_start:dot]
    if not word:
        return False
    # Initials and dotted acronyms: "U.S.", "J. Smith", "U.K."
    if len(word) == 1 and word.isupper():
        return True
    if re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word):
        return True
    return word.lower() in _ABBREVIATIONS


def word_count(text: str) -> int:
    return len(text.split())
