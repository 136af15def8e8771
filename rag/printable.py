"""Text from files, requests and pages made safe for one log line: control characters escaped.

A file name or a request path may hold a line break, an ANSI escape or a
right-to-left override; written raw they split one line into two, recolour a
terminal or reverse what follows. `printable` writes each as its Python
escape (`\\n`, `\\x1b`, `\\u202e`), so a line stays one line and says which
character was there.
"""

from __future__ import annotations

import logging
import re

# C0 and C1 controls, DEL, the line and paragraph separators, and the bidirectional embeddings,
# overrides and isolates.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    return _UNPRINTABLE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


class _PrintableRecord(logging.LogRecord):
    def getMessage(self) -> str:  # noqa: N802 (logging's name)
        return printable(super().getMessage())


def printable_logs() -> None:
    """Every log message of the process escaped (a traceback below one keeps its lines); for entry points."""
    logging.setLogRecordFactory(_PrintableRecord)
