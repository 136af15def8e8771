"""Reading a question, once: checked, cleaned for search, and read against the conversation.

The pipeline hands every question to `QuestionReader.read`, once, and gets
back a finished `Reading`; retrieval and the answerers only read it. Whether
a question leans on the turn before, and whether that turn must be answered
again first (a caller that kept only the questions), is decided here alone.

A question leans on the turn before it when it starts with "and"/"but"/"what
about", has at most two words of its own, says "he"/"she", or says "it"/"they"
without naming a subject of its own ("Where is NATO holding its summit?" does
not lean). `read_in_conversation` then makes it stand alone as far as plain
rules can, and keeps the earlier turn beside it:

* "he"/"she"/"his"/"her" become the person the earlier question named, or
  else the first person its answer named ("Who leads the alliance?" →
  "…Jens Stoltenberg…" makes "What did he say?" about Stoltenberg);
* a bare "When?" or "Why?" takes over the rest of the earlier question
  ("Where will the summit be held?" + "When?" → "When will the summit be held?");
* "And about Taiwan?" asks the earlier question of another subject;
* anything else ("Why is it planned?", "When does it open?") is searched
  with the earlier question and answer as context.

A question typed all in lower case ("what did wang wenbin claim?") first gets
the articles' names written as they write them (`truecased`), so every rule
that tells a name by its capitals reads it as it reads "Wang Wenbin".

Earlier questions are read the same way, oldest first, so a chain of
follow-ups keeps its referent. A person is told from a place or a body by the
shape of the name only (capitalised words whose last word is no place or
institution word, and whose first is no compass word): deliberate, since no tagger model ships with the
project. A lone capitalised word is a person only when asked about ("Who is Kashin?"), which keeps
countries and cities out without a list of them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from rag.answer.asked import PLACE_OPENERS, REFUSAL_TAIL
from rag.models.terms import terms
from rag.schema import Answer, QuestionError, Reading, Turn

_FOLLOWUP_START = re.compile(r"^\s*(and|but|also|what about|how about|so|then|why|and what about)\b", re.IGNORECASE)
_BACK_REFERENCE = re.compile(r"\b(it|its|they|them|their|he|him|his|she|her|that|this|those|these|there)\b",
                             re.IGNORECASE)
_OWN_NAME = re.compile(r"(?<=\S )[A-Z][\w-]+")  # a capitalised word past the first
# "And about Taiwan?", "What about on Taiwan?": the earlier question asked about another subject.
_OTHER_ABOUT = re.compile(r"^\s*(?:and|but|what about|how about)\s+(?:about|on)\s+"
                          r"(?P<subject>(?:the\s+)?[\w'’-]+(?:\s+[\w'’-]+){0,3})\s*\?*\s*$", re.IGNORECASE)
_ABOUT = re.compile(r"^.*\babout\s+(?P<object>(?:the\s+)?[^?]+?)\s*\?*\s*$", re.IGNORECASE)  # the last "about"
_PERSON_PRONOUN = re.compile(r"\b(he|him|his|she|her|hers)\b", re.IGNORECASE)
# A question word alone ("When?", "And why exactly?") asks the earlier question again with that word.
_BARE_QUESTION_WORD = re.compile(r"^\s*(?:and|but|so|ok|okay)?[\s,]*(how many|how much|how long|how old|when|where|why|"
                                 r"how|who|what|which)(?:\s+(?:exactly|then|so))?\s*\?*\s*$", re.IGNORECASE)
_OPENING_QUESTION_WORD = re.compile(r"^\s*(?:and|but|so)?[\s,]*(how long|when|where|why)\b", re.IGNORECASE)
# Verbs that say nothing of their own after "it": "where is it going to be", "when will it take place".
_EMPTY_TERMS = frozenset(terms("go going happen take place held hold located come"))
_LEADING_QUESTION_WORD = re.compile(r"^\s*(how many|how much|how long|how old|when|where|why|how|who|whom|what|which)\b",
                                    re.IGNORECASE)
_LEADING_AUXILIARY = re.compile(r"^\s*(is|are|was|were|do|does|did|will|would|can|could|has|have|had|should)\b",
                                re.IGNORECASE)
_NAME = re.compile(r"\b[A-Z][a-z]+(?:-[A-Z]?[a-z]+)?(?:\s+[A-Z][a-z]+(?:-[A-Z]?[a-z]+)?)*")
# Words that open a name as a title ("Prime Minister Fumio Kishida") and words that close a
# place's or a body's name ("South Korea", "Foreign Ministry"): neither is a person.
_TITLE_WORDS = frozenset("""Prime Minister Foreign Defense Defence President Secretary General Secretary-General
    Chancellor Chief Spokesperson Spokeswoman Spokesman Director Head Chairman Senator Ambassador Deputy Vice
    Former PM Governor Mayor Mr Mrs Ms Dr Professor Analyst Expert Political Scientist Chinese Japanese Russian French American
    British German Indian Korean Australian NATO The A An According When Where Who What Why How Which Did Does
    Is Was And But So Then Earlier Last Recently""".split())
_NOT_PERSON_WORDS = frozenset("""Ministry Dialogue Islands Island Declaration News Embassy Alliance Organization
    Organisation Treaty Summit Office Center Centre Institute Academy Sciences Studies Council Union States Kingdom
    Republic Sea Ocean River Mountains Peninsula Strait Region Province City War Program Programme Partnership Forum
    Daily Times Post Agency Committee Forces Force Staff Department Affairs Government Parliament Party University
    School Economics Bank Review""".split())
_POSSESSIVE_HER_NOT_BEFORE = frozenset("about to on in at for with that and or by from of as than".split())
_TYPED_WORD = re.compile(r"\b([a-z]\w*(?:-\w+)*)((?:'s|’s)?)\b")
_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_MARKDOWN_MARKS = re.compile(r"[*_`#>~]+|!?\[([^\]]*)\]\([^)]*\)")


# Characters that read as nothing (control, format, surrogate, private use) become spaces in a question.
_BLANK_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Co"))


def is_blank(ch: str) -> bool:
    """Whether the character counts as nothing in a question: whitespace, or control, format or private use."""
    return ch.isspace() or unicodedata.category(ch) in _BLANK_CATEGORIES


def normalise_question(question: str, max_chars: int, documents_noun: str = "articles") -> str:
    """The question with control characters as spaces; QuestionError if empty or too long (`documents_noun`: what
    the corpus's documents are called, as the error says it)."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    if len(question) > max_chars:
        raise QuestionError(f"the question has {len(question)} characters; the limit is {max_chars} "
                            "(setting max_question_chars, RAG_MAX_QUESTION_CHARS)")
    cleaned = "".join(" " if unicodedata.category(ch) in _BLANK_CATEGORIES else ch for ch in question)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QuestionError(f"the question is empty; type a question about the {documents_noun}")
    return cleaned


def searchable(question: str) -> str:
    """The words of a question pasted with HTML or markdown around them (the answer keeps the original)."""
    text = _TAG.sub(" ", _SCRIPT_OR_STYLE.sub(" ", question))
    text = _MARKDOWN_MARKS.sub(lambda m: m.group(1) or " ", text)
    return " ".join(text.split()) or question


def read_in_conversation(question: str, history: Sequence[Turn], names: Names | None = None) -> Reading:
    """`question` made to stand alone where it leans on the last turn of `history`, with that turn beside it.

    The reading is of the question's words (`searchable`, `truecased` with `names`); `Reading.question`
    keeps it as it was put.
    """
    names = names or Names()
    earlier: Reading | None = None
    for number, turn in enumerate(history):
        asked_then = searchable(truecased(turn.question.strip(), names))
        earlier = _read_after(asked_then, earlier, history[number - 1].answer) if earlier else Reading(asked_then)
    searched = searchable(truecased(question, names))
    reading = _read_after(searched, earlier, history[-1].answer) if earlier else Reading(searched)
    return replace(reading, question=question, rewritten=_rewritten(reading, question))


def _rewritten(reading: Reading, question: str) -> bool:
    """Whether the reading made the question stand alone ("he" named, "When?" completed, a subject swapped)."""
    # Names re-capitalised in a question typed in lower case (`truecased`) do not make it another question.
    return bool(reading.named) or reading.text.casefold() != searchable(question).casefold()


# Answers a finished reading of an earlier turn (retrieval and the answerer, as the pipeline wires them).
AnswerAgain = Callable[[Reading], Answer]


@dataclass(frozen=True)
class QuestionReader:
    """Reads the questions put to one loaded corpus: `names` are its names (for `truecased`), `max_chars` the
    longest question taken, `documents_noun` what its documents are called (as an empty question is told)."""

    names: Names
    max_chars: int
    documents_noun: str = "articles"

    def read(self, question: str, history: Sequence[Turn] = (), answer: AnswerAgain | None = None) -> Reading:
        """`question`, asked after `history`, read: normalised (QuestionError when empty or too long) and made
        to stand alone where it leans on the last turn, with that turn beside it.

        When it leans on a last turn that came without its answer, that turn is read (against the turns
        before it) and answered again with `answer` first, since a follow-up may point into that answer.
        Without `answer` the history is read as given.
        """
        question = normalise_question(question, self.max_chars, self.documents_noun)
        if answer is not None:
            history = self._with_last_answer(question, history, answer)
        return read_in_conversation(question, history, self.names)

    def _with_last_answer(self, question: str, history: Sequence[Turn], answer: AnswerAgain) -> Sequence[Turn]:
        if not history or history[-1].answer or not leans_on_earlier(searchable(truecased(question, self.names))):
            return history
        last = history[-1]
        try:
            # Only the last turn is answered again: a long history of bare questions costs one more answer.
            earlier = answer(self.read(last.question, history[:-1]))
        except QuestionError:
            return history  # an earlier question that cannot be asked (empty, too long) has no answer to lean on
        return (*history[:-1], Turn(last.question, "" if earlier.refused else earlier.text))


def leans_on_earlier(question: str) -> bool:
    """Whether `question` needs the turn before it to be understood."""
    if _FOLLOWUP_START.search(question) or len(terms(question)) <= 2 or _PERSON_PRONOUN.search(question):
        return True
    # "Where is NATO holding its summit?" names its own subject: "its" points inside the question.
    return bool(_BACK_REFERENCE.search(question)) and not _OWN_NAME.search(question)


def _read_after(question: str, previous: Reading, previous_answer: str) -> Reading:
    """`question` read after the turn whose (already read) question is `previous` and answer `previous_answer`."""
    if previous.text == question:
        return previous  # asked again: read as it was the first time
    if not leans_on_earlier(question):
        return Reading(question)
    earlier = previous.text
    # A refusal says nothing the follow-up could point into.
    answer = "" if previous_answer.endswith(REFUSAL_TAIL) else previous_answer
    bare = _BARE_QUESTION_WORD.match(question) or _empty_question(question, earlier)
    if bare:
        return Reading(_with_question_word(bare.group(1), earlier), earlier, answer, asks_again=True)
    swapped = _swapped_subject(question, earlier)
    if swapped is not None:
        return Reading(swapped, earlier, answer)
    person = (named_people(earlier) or named_people(answer) or [""])[0] if _PERSON_PRONOUN.search(question) else ""
    if person:
        return Reading(_PERSON_PRONOUN.sub(lambda m: _name_for(m, person, question), question), earlier, answer,
                       named=person)
    return Reading(question, earlier, answer)


def _empty_question(question: str, earlier: str) -> re.Match[str] | None:
    """A question word with only "it" and an empty verb after it ("And where is it going to take place?", "When will
    that happen?") after a question of the same sort ("When is the next summit?"): the earlier question
    asked again with that word, as a bare "Where?" is. After "What did China say about the office?", "it"
    is the office, not what China said, and the question stays as it is."""
    asked = _OPENING_QUESTION_WORD.match(question)
    if not asked or not _OPENING_QUESTION_WORD.match(earlier) or not _BACK_REFERENCE.search(question[asked.end():]):
        return None
    return asked if set(terms(question[asked.end():])) <= _EMPTY_TERMS else None


@dataclass(frozen=True)
class Names:
    """The articles' names for `truecased`: every word they write as a name, and the distinctive ones."""

    written: Mapping[str, str] = field(default_factory=dict)  # lower-case form → as the articles write it
    # Those no ordinary word shares: absent from the model's vocabulary of English words ("kashin", "wenbin"),
    # or written in capitals ("NATO"). "may", "us" and "president" are names only when written so.
    distinctive: frozenset[str] = frozenset()

    @classmethod
    def of(cls, written: Mapping[str, str], vocabulary: Container[str]) -> Names:
        """The names of `written` (lower → as written), told distinctive against the model's `vocabulary`; a
        compound by its parts ("Shangri-La" is, "Co-operation" is not)."""
        def distinctive(lower: str, as_written: str) -> bool:
            return lower not in vocabulary or (as_written.isupper() and len(lower) >= 3 and bool(terms(lower)))

        return cls(written, frozenset(
            lower for lower, as_written in written.items()
            if len(lower.split("-")) == len(as_written.split("-"))
            and any(distinctive(part, written_part) for part, written_part
                    in zip(lower.split("-"), as_written.split("-"), strict=True))))


def truecased(text: str, names: Names) -> str:
    """`text` with the articles' distinctive names written as they write them, when it is all in lower case
    ("according to kashin" → "according to Kashin"), and the name words beside those ("wang wenbin" → "Wang
    Wenbin"). A question with any capital is left as typed: its writer capitalises names, and a word left
    small is no name to them.
    """
    if not names.distinctive or text != text.lower():
        return text
    words = list(_TYPED_WORD.finditer(text))
    cased = [_written(m.group(1), names, names.distinctive) for m in words]
    # A name word next to a distinctive one is part of that name ("wang" before "Wenbin").
    for n, match in enumerate(words):
        if cased[n] is None and any(0 <= k < len(words) and cased[k] is not None and _beside(words, n, k, text)
                                    for k in (n - 1, n + 1)):
            cased[n] = _written(match.group(1), names, names.written.keys())
    pieces, last = [], 0
    for match, written in zip(words, cased, strict=True):
        if written is not None:
            pieces += [text[last:match.start(1)], written]
            last = match.end(1)
    return "".join(pieces) + text[last:]


def _written(word: str, names: Names, allowed: Iterable[str]) -> str | None:
    """`word` as the articles write it when it (or, for "nato-style", a part of it) is an allowed name."""
    if word in allowed:
        return names.written[word]
    parts = word.split("-")
    if len(parts) > 1 and any(part in allowed for part in parts):
        return "-".join(names.written[part] if part in allowed else part for part in parts)
    return None


def _beside(words: list[re.Match[str]], n: int, k: int, text: str) -> bool:
    """Whether words `n` and `k` stand next to each other with only spaces between."""
    first, second = sorted((n, k))
    return text[words[first].end():words[second].start()].isspace()


def named_people(text: str) -> list[str]:
    """Names in `text` shaped like a person's ("Jens Stoltenberg", "Kashin"), titles cut off, in order."""
    people = []
    for match in _NAME.finditer(text):
        words = match.group(0).split()
        # A person's name is what follows the last title or institution word ("Foreign Ministry
        # Spokesperson Mao Ning" → "Mao Ning"; "South Korea" → nothing).
        cut = max((i + 1 for i, w in enumerate(words) if w in _TITLE_WORDS or w in _NOT_PERSON_WORDS), default=0)
        words = words[cut:]
        if not words or words[0] in PLACE_OPENERS:
            continue
        if len(words) == 1 and not _asked_about(text, words[0]):
            continue  # a lone capitalised word is a person only when asked about ("Who is Kashin?")
        people.append(" ".join(words))
    return list(dict.fromkeys(people))


def _asked_about(text: str, name: str) -> bool:
    return bool(re.search(rf"\bwho\s+(is|was|are)\s+(\w+\s+)?{re.escape(name)}\b", text, re.IGNORECASE))


def _with_question_word(word: str, earlier: str) -> str:
    """The earlier question asked again with `word` ("Where will X be held?" + "When" → "When will X be held?")."""
    word = word.capitalize()
    asked = _LEADING_QUESTION_WORD.match(earlier)
    if asked:
        return word + earlier[asked.end():]
    if _LEADING_AUXILIARY.match(earlier):
        return f"{word} {earlier[0].lower()}{earlier[1:]}"
    return f"{word}: {earlier}"


def _swapped_subject(question: str, earlier: str) -> str | None:
    """"And about Taiwan?" after "What did Lavrov say about Korea?" asks what Lavrov said about Taiwan;
    None when the follow-up names no new object of "about" or the earlier question has none to swap.

    "And Kashin?" is left to the context: swapping the speaker in would demand Kashin's own words on the
    earlier subject, and a reader asking it wants what the articles say of Kashin on it, said by anyone.
    """
    other = _OTHER_ABOUT.match(question)
    about = _ABOUT.search(earlier) if other else None
    if not about:
        return None
    return earlier[:about.start("object")] + other.group("subject").strip() + earlier[about.end("object"):]


def _name_for(pronoun: re.Match[str], person: str, question: str) -> str:
    word = pronoun.group(1).lower()
    if word in ("his", "hers"):
        return f"{person}'s"
    if word == "her":
        following = question[pronoun.end():].split(maxsplit=1)
        if following and following[0].strip("?.,!").lower() not in _POSSESSIVE_HER_NOT_BEFORE \
                and following[0][0].isalpha():
            return f"{person}'s"
    return person
