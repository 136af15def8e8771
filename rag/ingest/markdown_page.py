"""Reading a Markdown page: front matter, title and body blocks, each mapped to raw offsets.

The parser is markdown-it-py (CommonMark, tables on), the reference
CommonMark implementation for Python, already installed with Gradio. Its block
tokens say which lines a block spans; its inline tokens give the text a
reader sees, but no character offsets. Each inline text is therefore found in
the raw lines of its block, in order, from where the previous one ended:
markup between them (`**`, `](url)`, `> `, list bullets) is what is skipped.
Entities and backslash escapes come as separate tokens (the `text_join` rule
is off) holding both the raw spelling and what it stands for.

What is read, what is left out:

* YAML front matter (`---` … `---` at the top) gives title, date, source
  and url, as a `.json` sidecar does; it is never body text; those fields
  must be single values (`rag.ingest.page_meta`), and aliases (`*name`) are refused;
* headings are headings; paragraphs, list items, block quotes, code blocks
  and table rows (cells separated by " | ") are body;
* links read as their words, emphasis and code spans as their text;
  images, raw HTML inside the Markdown, and link targets are left out;
* the title is the front matter's, else the first heading.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from rag.ingest.page_meta import check_text_fields
from rag.ingest.readable import TABLE_CELLS, Block, ParsedPage, ReadableBuilder
from rag.schema import CorpusError, ParagraphKind

_FENCES = ("---", "...")
# libyaml's safe loader when PyYAML was built with it: the same documents, seven times faster a page.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").disable("text_join")


def read_markdown(raw: str) -> ParsedPage:
    meta, body_from = _front_matter(raw)
    # The front matter's lines stay as blank lines, so token line numbers are the file's.
    masked = "".join(ch if ch == "\n" else " " for ch in raw[:body_from]) + raw[body_from:]
    line_starts = [0] + [i + 1 for i, ch in enumerate(raw) if ch == "\n"] + [len(raw)]
    blocks = _Blocks(raw, line_starts).read(_parser().parse(masked))
    title = str(meta.get("title") or next((b.readable.text for b in blocks if b.kind == "heading"), ""))
    return ParsedPage(title=title, date=_date(meta.get("date")), source=str(meta.get("source") or ""),
                      url=str(meta.get("url") or ""), blocks=tuple(blocks))


def _front_matter(raw: str) -> tuple[dict[str, Any], int]:
    """The front matter's fields and where the body starts (0 without front matter)."""
    lines = raw.split("\n")
    if not lines or lines[0].lstrip("\ufeff").rstrip("\r") != "---":
        return {}, 0
    for number, line in enumerate(lines[1:], start=1):
        if line.rstrip("\r") in _FENCES:
            body_from = sum(len(text) + 1 for text in lines[:number + 1])
            text = "\n".join(lines[1:number])
            try:
                if _has_alias(text):
                    raise CorpusError("front matter uses a YAML alias (*name); write each value out in full")
                meta = yaml.load(text, Loader=_SAFE_LOADER)
            except yaml.YAMLError:
                raise CorpusError(_yaml_problem(text)) from None
            meta = meta if isinstance(meta, dict) else {}
            check_text_fields(meta, "front matter")
            return meta, min(body_from, len(raw))
    return {}, 0  # no closing fence: a thematic break, not front matter


def _has_alias(text: str) -> bool:
    """Whether the YAML refers back to an anchor. Aliases are refused before anything is built: nine nested
    levels of them make a few hundred bytes stand for gigabytes once a value is turned into text. The events
    are read only when a "*" could start one, so a page without one is parsed once."""
    return "*" in text and any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=_SAFE_LOADER))


def _yaml_problem(text: str) -> str:
    """The error for front matter that is no YAML, read again by the pure-Python loader: libyaml places
    an unclosed bracket where the text ends, the pure loader on the line that opens it."""
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line_no = f" at line {where.line + 2}" if where is not None else ""
        return f"front matter is not valid YAML{line_no}; fix it or remove the --- block"
    return "front matter is not valid YAML; fix it or remove the --- block"


def _date(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value or "")


class _Blocks:
    def __init__(self, raw: str, line_starts: list[int]) -> None:
        self._raw = raw
        self._line_starts = line_starts

    def _line_span(self, line_map: list[int] | None) -> tuple[int, int]:
        first, last = line_map or (0, len(self._line_starts) - 1)
        last = min(last, len(self._line_starts) - 1)
        return self._line_starts[first], self._line_starts[last]

    def read(self, tokens: list[Token]) -> list[Block]:
        blocks: list[Block] = []
        kind: ParagraphKind = "body"
        row: ReadableBuilder | None = None
        cursor = 0
        for token in tokens:
            if token.type == "heading_open":
                kind = "heading"
            elif token.type == "heading_close":
                kind = "body"
            elif token.type == "tr_open":
                row = ReadableBuilder()
                cursor = self._line_span(token.map)[0]
            elif token.type == "tr_close" and row is not None:
                if row:
                    blocks.append(Block("body", row.build()))
                row = None
            elif token.type == "inline":
                start, end = self._line_span(token.map)
                if row is not None:
                    if row:
                        row.decoded(TABLE_CELLS, max(cursor - 1, start), max(cursor, start + 1))
                    cursor = self._inline(token.children or [], row, max(cursor, start), end)
                    continue
                builder = ReadableBuilder()
                self._inline(token.children or [], builder, start, end)
                if builder:
                    blocks.append(Block(kind, builder.build()))
            elif token.type in ("fence", "code_block"):
                builder = ReadableBuilder()
                start, end = self._line_span(token.map)
                if token.type == "fence":  # the fence lines are markup
                    start = self._line_starts[token.map[0] + 1] if token.map else start
                    end = self._line_starts[max(token.map[0] + 1, token.map[1] - 1)] if token.map else end
                builder.literal(self._raw, start, end)
                if builder:
                    blocks.append(Block("body", builder.build()))
        return blocks

    def _inline(self, children: list[Token], out: ReadableBuilder, cursor: int, end: int) -> int:
        """Finds each child's text in raw[cursor:end], in order; returns where the last one ended."""
        raw = self._raw
        for child in children:
            if child.type == "text" and child.content:
                found = raw.find(child.content, cursor, end)
                if found >= 0:
                    out.literal(raw, found, found + len(child.content))
                    cursor = found + len(child.content)
            elif child.type == "text_special":
                found = raw.find(child.markup, cursor, end)
                if found >= 0:
                    out.decoded(child.content, found, found + len(child.markup))
                    cursor = found + len(child.markup)
            elif child.type == "code_inline":
                found = raw.find(child.content, cursor, end)
                if found >= 0:
                    out.literal(raw, found, found + len(child.content))
                    cursor = found + len(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                newline = raw.find("\n", cursor, end)
                out.space(newline if newline >= 0 else cursor)
            elif child.type == "link_close":
                cursor = self._past_target(cursor, end)
            elif child.type == "image":
                cursor = self._past_target(raw.find("]", cursor, end) if "]" in raw[cursor:end] else cursor, end)
        return cursor

    def _past_target(self, cursor: int, end: int) -> int:
        """After a link's text: past its `](target)` or `][label]`, so the target is never read as text."""
        raw = self._raw
        if raw.startswith("](", cursor):
            depth, i = 0, cursor + 2
            while i < end:
                if raw[i] == "(":
                    depth += 1
                elif raw[i] == ")":
                    if depth == 0:
                        return i + 1
                    depth -= 1
                i += 1
        elif raw.startswith("][", cursor):
            close = raw.find("]", cursor + 2, end)
            return close + 1 if close >= 0 else cursor
        return cursor
