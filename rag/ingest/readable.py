"""Readable text built piece by piece from a parsed page, with its map back to the raw file.

A Markdown or HTML reader walks its parser's tokens and hands over what a
reader sees: literal runs of the raw file (`literal`), and characters that
stand for a longer raw run (`decoded`: `&amp;` is `&`, `\\*` is `*`). Every
readable character keeps the raw range it came from, so a span of the
readable text maps back to `raw[start:end]` exactly as for `.txt` articles
(`rag.ingest.text.CleanText`). Whitespace is folded to single spaces, control
characters read as spaces, as `rag.ingest.text.clean_text` does for `.txt`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.ingest.text import CleanText
from rag.schema import ParagraphKind

# How the page readers join a table row's cells into one paragraph; the answerer knows a row by it.
TABLE_CELLS = " | "

# What `_add` reads as a space: whitespace, control characters and the BOM.
_FOLDED = re.compile("[\\s\x00-\x1f\ufeff]+")


class ReadableBuilder:
    """Collects readable characters with their raw `[start, end)`; `build()` folds whitespace."""

    def __init__(self) -> None:
        self._chars: list[str] = []
        self._starts: list[int] = []
        self._ends: list[int] = []

    def __bool__(self) -> bool:
        return any(not ch.isspace() for ch in self._chars)

    def literal(self, raw: str, start: int, end: int) -> None:
        """Raw characters `[start, end)` read as they are."""
        # Runs between whitespace go in whole: this is most of a wiki's parsing time, one character at a time.
        position = start
        for match in _FOLDED.finditer(raw, start, end):
            self._run(raw, position, match.start())
            self._add(" ", match.start(), match.start() + 1)
            position = match.end()
        self._run(raw, position, end)

    def _run(self, raw: str, start: int, end: int) -> None:
        if start < end:
            self._chars.extend(raw[start:end])
            self._starts.extend(range(start, end))
            self._ends.extend(range(start + 1, end + 1))

    def decoded(self, text: str, start: int, end: int) -> None:
        """`text` standing for the raw run `[start, end)` (an entity, an escape)."""
        for ch in text:
            self._add(ch, start, end)

    def space(self, at: int) -> None:
        """A separator a reader sees where the raw file has markup (a line break, a table cell's edge)."""
        self._add(" ", at, at + 1)

    def _add(self, ch: str, start: int, end: int) -> None:
        if ch.isspace() or ord(ch) < 32 or ch == "\ufeff":
            ch = " "
        if ch == " " and (not self._chars or self._chars[-1] == " "):
            return
        self._chars.append(ch)
        self._starts.append(start)
        self._ends.append(end)

    def build(self) -> CleanText:
        count = len(self._chars)
        while count and self._chars[count - 1] == " ":
            count -= 1
        return CleanText("".join(self._chars[:count]), tuple(self._starts[:count]), tuple(self._ends[:count]))


@dataclass(frozen=True)
class Block:
    """One paragraph of a page as a reader sees it."""

    kind: ParagraphKind
    readable: CleanText


@dataclass(frozen=True)
class ParsedPage:
    """What a format's reader found: metadata (empty when the page states none) and readable blocks."""

    title: str
    date: str
    source: str
    url: str
    blocks: tuple[Block, ...]
