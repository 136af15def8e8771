"""Word terms for lexical matching: lower-cased, English stop words removed, stemmed.

BM25 retrieval and the answerer's term overlap use the same function, so a
name or number in a question matches the same way in both.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import Stemmer

# British spellings read as American ones before stemming, in the index and in questions alike, so a
# reader's "defence minister" meets the articles' "Defense Minister" (and "theatre", "programme" and
# "organisation" in the articles meet a reader's American spelling). A fold only has to be the same on
# both sides; what matters is that no two different words fold together, hence the explicit lists and
# the length limits ("four" is no "for", "filled" no "filed").
_FOLDED_WORDS = {"defence": "defense", "defences": "defenses", "offence": "offense", "offences": "offenses",
                 "licence": "license", "licences": "licenses", "pretence": "pretense", "programme": "program",
                 "programmes": "programs", "grey": "gray", "kerb": "curb", "tyre": "tire", "tyres": "tires",
                 "cheque": "check", "cheques": "checks", "jewellery": "jewelry", "aluminium": "aluminum"}
_DOUBLED_L = re.compile(r"^(travel|cancel|label|model|signal|fuel|level|counsel|marshal|total|channel|tunnel|"
                        r"quarrel|dial|equal|rival)l(ed|ing|er|ers)$")
_BRITISH_SUFFIXES = (
    (re.compile(r"^(\w{3,})is(e|es|ed|ing|ation|ations|er|ers)$"), r"\1iz\2"),  # organise, militarisation
    (re.compile(r"^(\w{2,})ys(e|es|ed|ing)$"), r"\1yz\2"),  # analyse, paralysed
    (re.compile(r"^(\w{2,})our(s|ed|ing|ite|ites|able|ful)?$"), r"\1or\2"),  # colour, odour, favourite
    (re.compile(r"^(\w{3,})tre(s|d)?$"), r"\1ter\2"),  # centre, theatre ("timbre" is no "timber")
    (re.compile(r"^(\w{3,})logue(s)?$"), r"\1log\2"),  # dialogue, catalogue
)


@lru_cache(maxsize=1 << 17)
def fold_spelling(word: str) -> str:
    """A lower-case word in American spelling when it is a British one ("defence" → "defense").

    Remembered per word: the rules cost 15 times the stemming itself, and the same few thousand words come
    back in every sentence an index or a question holds.
    """
    if word in _FOLDED_WORDS:
        return _FOLDED_WORDS[word]
    if "l" in word:
        word = _DOUBLED_L.sub(r"\1\2", word)
    for pattern, replacement in _BRITISH_SUFFIXES:
        word = pattern.sub(replacement, word)
    return word


class _FoldingStemmer:
    """Snowball's English stemmer after `fold_spelling`, with PyStemmer's two methods (bm25s calls one)."""

    def __init__(self) -> None:
        self._snowball = Stemmer.Stemmer("english")

    def stemWord(self, word: str) -> str:  # noqa: N802 - PyStemmer's name, which bm25s looks for
        return self._snowball.stemWord(fold_spelling(word))

    def stemWords(self, words: list[str]) -> list[str]:  # noqa: N802
        return self._snowball.stemWords([fold_spelling(word) for word in words])


_STEMMER = _FoldingStemmer()
# bm25s's default pattern drops one-letter words; its English list drops stop words.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
_WORD = re.compile(TOKEN_PATTERN)
# bm25s's English stop words (`bm25s.stopwords.STOPWORDS_EN`, which `tokenize` hands it by name), copied: a
# question's terms must not import bm25s, and with it SciPy (a third of a second of a cold `ask`).
# tests/models/test_onnx.py checks the copy against bm25s's list.
STOPWORDS_EN = (
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
    "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
    "will", "with",
)
_STOPWORDS = frozenset(STOPWORDS_EN)


def tokenize(texts: list[str]) -> list[list[str]]:
    """Terms of each text, in order (bm25s's tokenizer: builds only)."""
    if not texts:
        return []
    import bm25s

    return bm25s.tokenize(texts, token_pattern=TOKEN_PATTERN, stopwords="en", stemmer=_STEMMER,
                          return_ids=False, show_progress=False)


def terms(text: str) -> list[str]:
    """The terms of one text, as `tokenize` gives them: lower-cased words less stop words, stemmed.

    Done here rather than through `bm25s.tokenize`, whose per-call set-up costs
    sixteen times the work itself, and the answerer calls this for every
    sentence it weighs (tests check the two agree).
    """
    return _STEMMER.stemWords([word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS])


@lru_cache(maxsize=1 << 17)
def word_terms(word: str) -> tuple[str, ...]:
    """`terms` of one written word, remembered: words repeat, and a wiki's build asks this for every word it
    holds (342,000 times on a 10,000-page wiki)."""
    return tuple(terms(word))


PREFIX_MIN = 5
FAMILIES_REMEMBERED = 8192  # terms whose word family `TermPostings.holding` keeps


def same_word_family(a: str, b: str) -> bool:
    """Stems of one word family: "oppos" (opposed) and "opposit" (opposition).

    Snowball leaves such pairs apart; a shared prefix of at least PREFIX_MIN
    characters that is a whole stem joins them.
    """
    if a == b:
        return True
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= PREFIX_MIN and long.startswith(short) and len(long) - len(short) <= 3


def family_in(term: str, sorted_vocabulary: Sequence[str]) -> list[str]:
    """The words of `sorted_vocabulary` in `term`'s family (itself included when present)."""
    if len(term) < PREFIX_MIN:
        position = bisect.bisect_left(sorted_vocabulary, term)
        found = position < len(sorted_vocabulary) and sorted_vocabulary[position] == term
        return [term] if found else []
    prefix = term[:PREFIX_MIN]
    position = bisect.bisect_left(sorted_vocabulary, prefix)
    family = []
    while position < len(sorted_vocabulary) and sorted_vocabulary[position].startswith(prefix):
        if same_word_family(term, sorted_vocabulary[position]):
            family.append(sorted_vocabulary[position])
        position += 1
    return family


class TermPostings:
    """Which units (sentences) hold a word of each term's family: an inverted index."""

    def __init__(self, unit_terms: Sequence[frozenset[str]]) -> None:
        postings: dict[str, set[int]] = {}
        for unit, unit_term_set in enumerate(unit_terms):
            for term in unit_term_set:
                postings.setdefault(term, set()).add(unit)
        self._postings = {term: frozenset(units) for term, units in postings.items()}
        self._vocabulary = sorted(self._postings)
        self._families: dict[str, tuple[str, ...]] = {}

    def holding(self, term: str) -> frozenset[int]:
        """Units that contain `term` or a word of its family."""
        family = self._families.get(term)
        if family is None:
            # Remembered, a question's terms being looked up once per signal; bounded, so a stream of made-up
            # words cannot grow it. The family, not its postings: a common word's postings in a large wiki
            # are millions of units, and a word alone in its family is given its own set, not a copy.
            if len(self._families) >= FAMILIES_REMEMBERED:
                self._families.clear()
            family = self._families[term] = tuple(family_in(term, self._vocabulary))
        if len(family) == 1:
            return self._postings[family[0]]
        return frozenset().union(*(self._postings[t] for t in family))

    def exactly(self, term: str) -> frozenset[int]:
        """Units that contain `term` itself."""
        return self._postings.get(term, frozenset())


NAME_SHARE = 0.7  # of a term's uses past a sentence's first word that are capitalised, for it to be a name
_WRITTEN_WORD = re.compile(r"[\w’'-]+")


def name_terms(sentences: Iterable[str]) -> frozenset[str]:
    """Terms written capitalised in at least NAME_SHARE of their uses past a sentence's first word ("Kashin",
    "Sweden"): what the articles treat as names."""
    capitalised: Counter[str] = Counter()
    uses: Counter[str] = Counter()
    for sentence in sentences:
        for word in _WRITTEN_WORD.findall(sentence)[1:]:
            for term in word_terms(word):
                uses[term] += 1
                capitalised[term] += word[0].isupper()
    return frozenset(t for t, n in uses.items() if capitalised[t] >= NAME_SHARE * n)
