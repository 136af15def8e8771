"""Following links into `docs/`: the file must exist, and so must the heading an `#anchor` names.

Anchors are made from headings as GitHub makes them (lower case, punctuation dropped, spaces as hyphens), which
is also how `rag.evaluation.html_page.definition_url` links a metric to its section.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from rag.config import PROJECT_ROOT

# `docs/EVAL.md#metrics`, `docs/chat.png`: as a Markdown link target or as text in a message.
DOCS_LINK = re.compile(r"docs/[\w./-]*\w(?:#[\w-]+)?")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (those inside code blocks are no headings)."""
    found, fenced = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"#{1,6} (.+)", line)):
            found.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
    return found


def broken(link: str) -> str | None:
    """Why a `docs/…` link (relative to the project) or a file:// URL does not lead anywhere; None when it does."""
    if link.startswith("file://"):
        parts = urlsplit(link)
        path, anchor = Path(unquote(parts.path)), parts.fragment
    else:
        relative, _, anchor = link.partition("#")
        path = PROJECT_ROOT / relative
    if not path.is_file():
        return f"{link}: no file {path}"
    if anchor and anchor not in anchors(path):
        return f"{link}: {path.name} has no heading whose anchor is #{anchor}"
    return None
