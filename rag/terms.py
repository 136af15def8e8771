"""Word terms for lexical matching: lower-cased, English stop words removed, stemmed.

BM25 retrieval and the answerer's term overlap use the same function, so a
name or number in a question matches the same way in both.
"""

from __future__ import annotations

import re

import bm25s
import Stemmer

_STEMMER = Stemmer.Stemmer("english")
# bm25s's default pattern drops one-letter words; its English list drops stop words.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_WORD = re.compile(TOKEN_PATTERN)


def tokenize(texts: list[str]) -> list[list[str]]:
    """Terms of each text, in order."""
    if not texts:
        return []
    return bm25s.tokenize(texts, token_pattern=TOKEN_PATTERN, stopwords="en", stemmer=_STEMMER,
                          return_ids=False, show_progress=False)


def terms(text: str) -> list[str]:
    return tokenize([text])[0] if _WORD.search(text) else []


PREFIX_MIN = 5


def same_word_family(a: str, b: str) -> bool:
    """Stems of one word family: "oppos" (opposed) and "opposit" (opposition).

    Snowball leaves such pairs apart; a shared prefix of at least PREFIX_MIN
    characters that is a whole stem joins them.
    """
    if a == b:
        return True
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= PREFIX_MIN and long.startswith(short) and len(long) - len(short) <= 3
