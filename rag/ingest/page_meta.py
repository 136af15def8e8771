"""A page's metadata (title, date, source, url): text only, and of bounded length.

Front matter and `.json` sidecars are written by whoever edits the wiki. A
value that should be text but is a list or a mapping is refused rather than
turned into text: `str()` of a YAML structure built from aliases writes every
repeat out (a 459-byte page made a 34 MB title). And every field has a cap,
whichever format stated it, so one page cannot fill the chat, the sources
panel or a log line with its title. A page breaking either is skipped, with
the reason, like any bad file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from rag.schema import CorpusError, Document

# Characters. A title is a line of a page list; an ISO date is 10 and a written one ("Monday, May 22, 2023
# 14:05 UTC") well under 64; the longest URLs browsers and proxies pass are about 2,000.
MAX_CHARS = {"title": 500, "date": 64, "source": 200, "url": 2000}
_SCALARS = (str, int, float, dt.date)  # a date, a datetime, a bool (an int) and None read as text too


def check_text_fields(meta: Mapping[object, object], where: str) -> None:
    """Refuse a metadata field of `meta` (front matter, a sidecar) that is not a single value."""
    for name in MAX_CHARS:
        value = meta.get(name)
        if value is not None and not isinstance(value, _SCALARS):
            kind = "list" if isinstance(value, (list, tuple, set)) else \
                "mapping" if isinstance(value, Mapping) else type(value).__name__
            raise CorpusError(f"{where} field {name!r} is a {kind}, not text; write it as one line of text")


def metadata_problem(document: Document) -> str:
    """Why the page's metadata is refused (a field over its cap), or "" when it is not."""
    for name, limit in MAX_CHARS.items():
        length = len(getattr(document, name))
        if length > limit:
            return (f"its {name} has {length:,} characters, over the {limit:,}-character limit for a page's "
                    f"{name}; shorten it")
    return ""
