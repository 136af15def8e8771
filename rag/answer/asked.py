"""What a question asks for, whether a sentence holds it, and how to say it is missing.

A reader's "When did Sweden ask to become a member?" finds a sentence about
Sweden applying; only the missing date tells that the articles cannot answer
it. So a question's asked fact is typed from its wording:

* when → a date or time ("2024", "July 11-12", "next year", "on Wednesday");
* how many → a number that is not a year; how much money → an amount;
* how long (has it lasted) → a duration ("for nine years", "since 2014");
* how old → an age;
* where → a place after a preposition ("in Vilnius", "in Japan");
* who → a name or a body (a capitalised word past the sentence's first);
* "what did X say/think…", "…, according to X?", "in X's view" → X in a
  speaker's role: X said, according to X, X's reaction. "Brazil" merely
  listed as an example does not speak.

These are surface patterns, deliberately: no tagger or parser model ships
with the project, and news prose states dates, numbers and attributions in a
small number of shapes. A refusal names what is missing and what the articles
do mention ("The articles mention Sweden but don't say when.").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.models.terms import same_word_family, terms

REFUSAL_TAIL = "The closest passages are listed below."

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_WHEN = re.compile(
    rf"\b(1[89]\d\d|20\d\d|{_MONTHS}|{_DAYS}|(next|last|this|coming|past) (year|month|week|spring|summer|autumn|fall|"
    r"winter)|(earlier|later) this (year|month|week)|yesterday|today|tomorrow|\d{1,2}(st|nd|rd|th)? century|"
    r"decades? ago|years? ago|months? ago|weeks? ago|days? ago)\b")
_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
                 "hundred|hundreds|thousand|thousands|million|millions|billion|dozen|dozens|single|both")
_YEAR = re.compile(r"^(1[89]\d\d|20\d\d)$")
# A number may carry its unit's letters ("50p", "7pm", "20km"): the digits are the number.
_NUMBER = re.compile(rf"\b(\d[\d,.]*(?=[a-z]{{0,3}}\b)|(?:{_NUMBER_WORDS})\b)", re.IGNORECASE)
_AGE = re.compile(r"\b\d{1,3}[- ]years?[- ]old\b|\baged? \d{1,3}\b|,\s*\d{2},", re.IGNORECASE)
# "on Wednesday", "in July" are times, not places.
_PLACE = re.compile(rf"\b(in|at|to|from|near|into|on)\s+(the\s+)?(?!(?:{_MONTHS}|{_DAYS})\b)([A-Z][a-z]+)")
_CAPITALISED_WORD = re.compile(r"\b[A-Z][A-Za-z-]*")
# Capitalised only for standing first: "The", "However", "He" name nobody.
_SENTENCE_OPENERS = frozenset("""the a an it its this that these those he she his her they their them we our i in on
    at by for from with to of and but or so yet however moreover furthermore meanwhile earlier later previously recently
    also after before during while when where why how what which who according as if there here such some many
    most all both each one another other last next back besides amid among despite since until""".split())

# "What is the population of Osaka?" asks for a number as much as "how many" does.
_MEASURE = (r"\bwhat(?:'s| is| was| are| were)\s+(?:the|its|their|his|her)\s+(?P<measure>population|number|size|cost|"
            r"price|budget|area|height|length|total|amount|percentage|share|salary|turnover|revenue)\b")
# "What is the capital of Lithuania?", "Who is the mayor of Tokyo?": an attribute of something; when no
# article uses the attribute's word, the articles cannot give it, however much they say of the something.
_FOCUS = re.compile(r"^\W*(?:what|who|which)(?:'s|\s+is|\s+was|\s+are|\s+were)\s+(?:the|its|their|his|her)\s+"
                    r"(?P<focus>[\w-]+)\s+(?:of|for)\b", re.IGNORECASE)
# "Where was the spokeswoman born?", "Who is in charge of the office?": the asked fact is a life event or a role,
# which the articles cannot give when none of them uses its word.
_EVENT_FOCUS = re.compile(r"^\W*(?:where|when)\s+(?:was|were|is|are)\s+.+?\s+(?P<focus>born|raised|educated|married)\b|"
                          r"\bwho\s+(?:will\s+be|would\s+be|is|was|are|were)\s+(?:\w+\s+)?in\s+(?P<role>charge)\s+of\b",
                          re.IGNORECASE)
_ASKS = (
    ("how old", re.compile(r"\bhow old\b|\bwhat age\b|\b(his|her|their) age\b", re.IGNORECASE)),
    ("how long", re.compile(r"^\W*(and\s+|but\s+|so\s+)?how long\b(?!\s+(?:ago|until|till|before|after)\b)|"
                            r"\bfor how many (years|months|weeks|days)\b", re.IGNORECASE)),
    # "How much does Japan spend…" asks for an amount: a number alone ("one-person office") is none. Only
    # about money: "how much support", "how much did China oppose" ask a degree, which no pattern reads.
    ("how much", re.compile(r"\bhow much\b(?=.*\b(?:money|spend\w*|spent|cost\w*|pay\w*|paid|invest\w*|budget\w*|"
                            r"fund\w*|worth|earn\w*|price\w*|charge\w*)\b)", re.IGNORECASE)),
    ("how many", re.compile(r"\bhow (many|much)\b|\bwhat (number|percentage|share|amount)\b|" + _MEASURE, re.IGNORECASE)),
    ("when", re.compile(r"^\W*(and\s+|but\s+|so\s+)?when\b|\bhow long (?:ago|until|till|before)\b|"
                        r"\bwhat (year|date|day|month|time)\b|\bsince when\b|\bby when\b|"
                        r"\bwhich (year|date|day|month)\b", re.IGNORECASE)),
    ("where", re.compile(r"^\W*(and\s+|but\s+|so\s+)?where\b|\b(in|at) which (city|country|place)\b",
                         re.IGNORECASE)),
    ("who", re.compile(r"^\W*(and\s+|but\s+|so\s+)?(who|whom)\b", re.IGNORECASE)),
    ("why", re.compile(r"^\W*(and\s+|but\s+|so\s+)?why\b|\bfor what reason\b|\bhow come\b|\bwhat for\s*\?|"
                       r"\bwhat(?:'s|’s|\s+is|\s+was|\s+are|\s+were)\s+the\s+"
                       r"(?:point|purposes?|aims?|goals?|reasons?)\s+(?:of|behind)\b(?!\s+(?:contact|view|order)\b)",
                       re.IGNORECASE)),
)
# "Why…?" is answered by a cause or a purpose, which news prose marks in few ways: "because", "aimed at",
# "in a bid to", "thus raising its status", "given Japan's history". A sentence marking one is preferred,
# none is required: "saying that it would undermine ties" gives a reason unmarked.
# ("since" and "given" are left out: mostly "since 2022" and "was given".)
_REASON = re.compile(r"\b(because|as a result|due to|owing to|in order to|so as to|so that|aim(?:ed|ing|s)? "
                     r"(?:at|to)|in a bid to|with the aim|intended to|designed to|thus|therefore|hence|given that|"
                     r"in response to|for fear|the reason|motivated|prompted)\b", re.IGNORECASE)
# "for two years", "since 2014", "a decade": how long something has lasted or will.
_DURATION = re.compile(rf"\b(?:\d[\d,.]*|{_NUMBER_WORDS}|a|an|several|few|many)\s+(?:more\s+|full\s+)?"
                       r"(?:years?|months?|weeks?|days?|hours?|decades?|centuries)\b|"
                       rf"\bsince\s+(?:the\s+)?(?:(?:early|mid|late)[- ]?)?(?:1[89]\d\d|20\d\d|{_MONTHS}|last|start|"
                       r"beginning|end|outbreak|\d{4}s)\b|\bdecade\b",
                       re.IGNORECASE)
# A sum of money, a share or a large quantity: "$1.2 billion", "45p", "2 percent of GDP", "6.8 trillion yen".
_AMOUNT = re.compile(r"[$€£¥]\s?\d|\b\d[\d,.]*p\b|\b\d[\d,.]*+\s*(?:%|percent\b|per cent\b)|"
                     rf"\b(?:\d[\d,.]*+|{_NUMBER_WORDS})\s+(?:million|billion|trillion|dollars?|yen|euros?|pounds?|"
                     r"yuan|rubles?|roubles?|tons?|tonnes?)\b", re.IGNORECASE)
_HOLDS = {"how old": _AGE.search, "when": _WHEN.search, "how long": _DURATION.search, "how much": _AMOUNT.search}

# "how many Russian entities were impacted" counts "Russian entities": the words up to the verb.
_COUNTED = re.compile(r"\bhow many\s+((?:(?!(?:do|does|did|will|would|were|was|are|is|have|has|had|can|could|"
                      r"should|in|of|at|on|besides|except|apart|than|from|for|with|by|to|the|that|which|who)\b)"
                      r"[\w-]+\s*){1,3})", re.IGNORECASE)
WHEN_WINDOW = 12  # words around a date where what it dates may stand ("the summit …, which will be held on July 11-12")
COUNTED_WINDOW = 4  # words around a number where the counted thing may stand ("31 member states")
_SPEAKER_QUESTION = re.compile(
    r"^\W*(?:and\s+)?what\s+(?:did|does|do|has|have|had)\s+(?P<speaker>.+?)\s+"
    r"(?:say|said|think|thought|believe|feel|want|warn|claim|argue|suggest|make of|report|tell|announce|mean)\b",
    re.IGNORECASE)
# "How did Taiwan react…", "What is Seoul's position on…": a view asked of someone as much as "what did
# they say"; what another party said is no answer. ("Did Turkey approve…" asks as often for an act.)
# Only a name is read as the one asked (the US State Department, Taiwan): "Does the plan have support…" asks
# nothing of "the plan have".
_NAMED = r"(?:the\s+)?[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*){0,2}"
_VIEW_QUESTION = re.compile(
    rf"^\W*(?:(?:[Aa]nd|[Bb]ut|[Ss]o)\s+)?[Hh]ow\s+(?:did|does|do|has|have|had|will|would)\s+(?P<reacting>{_NAMED})"
    r"\s+(?:react(?:ed|s)?|respond(?:ed|s)?|repl(?:y|ied|ies)|view(?:ed|s)?|regard(?:ed|s)?|feel about)\b|"
    rf"^\W*(?:(?:[Aa]nd|[Bb]ut|[Ss]o)\s+)?[Ww]hat(?:'s|’s|\s+is|\s+was|\s+are|\s+were)\s+(?P<holding>{_NAMED})"
    r"(?:'s|’s|’|')\s+(?:view|views|position|stance|reaction|response|take|opinion|attitude)\b")
# "…, according to Nakamura?" and "In Nakamura's view, …" ask for a named source's words as much.
_ATTRIBUTED_QUESTION = re.compile(
    r"\b[Aa]ccording to\s+(?:the\s+)?(?P<speaker>[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*){0,2})|"
    r"\b[Ii]n\s+(?P<owner>[A-Z][\w-]*(?:\s+[A-Z][\w-]*){0,2})(?:'s|’s)\s+(?:view|opinion|words|eyes)\b")
_SPEECH = (r"(said|says|say|stated|states|told|tells|added|adds|noted|warned|warns|stressed|explained|concluded|"
           r"believes|believed|asserted|insisted|called|calls|urged|expressed|suggested|reiterat\w*|underscored|"
           r"argued|claimed|commented|remarked|pointed out|announced|criticized|criticised|opposed|opposes|"
           r"welcomed|welcomes|responded|replied|thinks|thought|regards|considers|writes|wrote|reported|reports|"
           r"cautioned|accused|denounced|condemned|vowed|confirmed|emphasized|emphasised|declared|observed)")
# "…, a media report claimed on Wednesday": the date right after a verb of saying dates the saying. Past
# forms only: "member states in July agreed…" dates the agreeing.
_REPORTED = re.compile(r"\b(said|told|reported|claimed|announced|stated|added|noted|wrote|confirmed|revealed|"
                       r"disclosed|warned|declared)\s+(?:on\s+|in\s+)?$")
REPORTED_REACH = 40  # characters before a date where its verb of saying may stand
# A verb right after a name makes the name its subject: "Hatoyama divulged", "Beijing told", "Macron had".
_ACTING = (rf"(?:{_SPEECH}|[a-z]+ed|[a-z]+ing|[a-z]{{3,}}s|took|told|thought|wrote|spoke|made|gave|held|put|said|"
           r"had|has|have|will|would|did|does|can|could|should|must|may|might)\b")
_SPEAKER_NOUNS = (r"(reaction|position|view|views|stance|response|remarks?|statement|comments?|words|opposition|"
                  r"concerns?|spokes\w+|minister|ministry|government|editorial|point of view)")
_OWNER = re.compile(r"^(?:the\s+)?([A-Z][\w-]*(?:\s+[A-Z][\w-]*){0,2})(?:'s|’s)\s")
# A name opening with one of these is a place: South Korea, New Zealand, East Asia (rag/answer/reading.py too).
PLACE_OPENERS = frozenset("North South East West Northern Southern Eastern Western Central New Upper Lower".split())
# News prose lets a capital speak for its government ("Beijing told the UN…", "Moscow warned"): what
# Beijing thinks is also what China, its ministries and its officials say. A gazetteer, not a model: the
# capitals of the countries such news is about.
_CAPITAL_CITIES = {"beijing": "China", "moscow": "Russia", "tokyo": "Japan", "washington": "United States",
                   "seoul": "South Korea", "pyongyang": "North Korea", "kyiv": "Ukraine", "kiev": "Ukraine",
                   "london": "Britain", "paris": "France", "berlin": "Germany", "rome": "Italy", "madrid": "Spain",
                   "ottawa": "Canada", "canberra": "Australia", "wellington": "New Zealand", "new delhi": "India",
                   "taipei": "Taiwan", "manila": "Philippines", "hanoi": "Vietnam", "jakarta": "Indonesia",
                   "islamabad": "Pakistan", "tehran": "Iran", "ankara": "Turkey", "riyadh": "Saudi Arabia",
                   "jerusalem": "Israel", "cairo": "Egypt", "warsaw": "Poland", "stockholm": "Sweden",
                   "helsinki": "Finland", "oslo": "Norway", "copenhagen": "Denmark", "vilnius": "Lithuania",
                   "budapest": "Hungary", "minsk": "Belarus", "brasilia": "Brazil", "mexico city": "Mexico"}
# Seats of government speak for theirs as much ("the Kremlin said").
_SEATS = {"kremlin": "Russia", "white house": "United States", "pentagon": "United States",
          "downing street": "Britain", "elysee": "France", "élysée": "France", "zhongnanhai": "China"}
# Other names of a country, which an article may never use ("America's top general" is the US's).
_ALIASES = {"america": "United States", "britain": "United Kingdom", "holland": "Netherlands"}
CAPITALS = {**_CAPITAL_CITIES, **_SEATS, **_ALIASES}
_COUNTRY_WORDS = frozenset(w for country in CAPITALS.values() for w in country.lower().split()) | \
    frozenset(k for k in CAPITALS if " " not in k)
_CAPITAL_TERMS = {term: country for capital, country in CAPITALS.items() if len(term_list := terms(capital)) == 1
                  for term in term_list}  # as a question's terms have them ("beij" for Beijing)
# Demonyms no suffix rule makes (`_name_forms` makes "Russian", "Japanese", "Chinese").
_DEMONYMS = {"france": ("French",), "britain": ("British",), "united kingdom": ("British",),
             "united states": ("US", "U.S.", "American", "Americans"), "netherlands": ("Dutch",),
             "switzerland": ("Swiss",), "turkey": ("Turkish",), "poland": ("Polish",), "spain": ("Spanish",),
             "denmark": ("Danish",), "sweden": ("Swedish",), "finland": ("Finnish",), "greece": ("Greek",),
             "thailand": ("Thai",), "philippines": ("Philippine", "Filipino"), "vietnam": ("Vietnamese",),
             "pakistan": ("Pakistani",), "israel": ("Israeli",), "iran": ("Iranian",), "iraq": ("Iraqi",),
             "new zealand": ("New Zealander",), "south korea": ("South Korean",), "north korea": ("North Korean",),
             "germany": ("German", "Germans"), "italy": ("Italian",), "norway": ("Norwegian",),
             "hungary": ("Hungarian",), "saudi arabia": ("Saudi",)}
_CAPITAL_OF: dict[str, str] = {}
for _city, _country in _CAPITAL_CITIES.items():
    _CAPITAL_OF.setdefault(_country.lower(), _city.title())  # Kyiv, not Kiev
_PRONOUNS = frozenset("he she it they him her them his its their this that these those".split())
# The last word of a body's name, not a person's: "State Department", "Foreign Ministry", "Global Times".
_BODY_WORDS = frozenset("department ministry office council agency committee bureau party parliament senate congress "
                        "commission union alliance government times post news daily journal institute center centre "
                        "university organization organisation forum assembly court cabinet administration".split())
_ROLE_WORDS = frozenset("minister spokesperson spokeswoman spokesman president secretary general chief head director "
                        "analyst expert official officials ministry government leader leaders chairman".split())


PREFERRED_KINDS = ("why",)  # kinds of fact a sentence is preferred for holding, never required to hold


@dataclass(frozen=True)
class Asked:
    """The kind of fact a question asks for ("" when any statement may answer it) and its speaker, if any."""

    kind: str = ""
    speaker: str = ""
    counted: str = ""  # what "how many" counts: "members" in "How many members does NATO have?"
    missing: str = ""  # how a refusal says it: "say when", "say how many staff", "give the population"
    focus: str = ""  # the attribute asked of something: "capital" in "What is the capital of Lithuania?"


def asked(question: str) -> Asked:
    """What `question` asks for, read from its wording."""
    kind = next((name for name, pattern in _ASKS if pattern.search(question)), "")
    match = _SPEAKER_QUESTION.search(question)
    speaker = match.group("speaker").strip() if match else ""
    view = None if speaker else _VIEW_QUESTION.search(question)
    if view:
        speaker = next(group for group in view.groups() if group).strip()
    attributed = None if speaker else _ATTRIBUTED_QUESTION.search(question)
    if attributed:
        speaker = (attributed.group("speaker") or attributed.group("owner")).strip()
    # "What did Brazil's trade minister say" names a role, which speaks for its owner (Brazil must speak);
    # "the trade minister" alone names nobody the text can be checked for, and "what did he say" a speaker
    # the conversation had to name (questions.read_in_conversation).
    words = set(speaker.lower().replace("'s", "").replace("’s", "").split())
    owner = _OWNER.match(speaker)
    asked_as = _strip_article(speaker)  # as the refusal names it: "South Korea's president"
    if speaker and words & _ROLE_WORDS and owner and not set(owner.group(1).lower().split()) & _PRONOUNS:
        speaker = owner.group(1)
    elif speaker and (len(_strip_article(speaker).split()) > 3 or words & _ROLE_WORDS or words & _PRONOUNS):
        speaker = ""
    speaker = _strip_article(speaker)
    counted = ""
    missing = (f"give {_possessive(asked_as)} view" if speaker and view else f"say what {asked_as} said" if speaker
               else f"say {kind}" if kind else "")
    if kind == "how many":
        measure = re.search(_MEASURE, question, re.IGNORECASE)
        counting = _COUNTED.search(question)
        counted = measure.group("measure") if measure else counting.group(1).strip() if counting else ""
        # "How much is a colour page?" is told in its own words: "don't say how much", not "how many".
        how = "how much" if re.search(r"\bhow much\b", question, re.IGNORECASE) else "how many"
        missing = f"give the {counted}" if measure else f"say {how} {counted}".strip()
    focus_match = _FOCUS.search(question)
    # "What's the point of…" asks why, not for an attribute called "point".
    focus = focus_match.group("focus") if focus_match and kind != "why" else ""
    if focus and kind in ("", "who"):
        missing = f"name the {focus}" if kind == "who" else f"give the {focus}"
    event = _EVENT_FOCUS.search(question)
    if event and not focus:
        focus = event.group("focus") or event.group("role")
        missing = "say who is in charge" if event.group("role") else f"say {kind} they were {focus.lower()}"
    return Asked(kind, speaker, counted, missing, focus)


def without_attribution(question: str) -> str:
    """The question less its "according to X" or "in X's view": what the words sought say, not whose they are.

    Embedded whole, the speaker's name pulls the question toward every sentence naming them (the one
    introducing "Vasily Kashin, director of…") and away from the quote that answers; the speaker is
    checked apart (`speaks`, and the attribution scope of `rag.answer.attribution`).
    """
    stripped = _ATTRIBUTED_QUESTION.sub(" ", question)
    stripped = re.sub(r"\s+([,?.!])", r"\1", re.sub(r"^[\s,]+|,(?=\s*[?.!]?\s*$)", "", " ".join(stripped.split())))
    return stripped if len(stripped.split()) >= 2 else question


def holds(kind: str, text: str, counted: str = "", about: frozenset[str] = frozenset(),
          counted_also: frozenset[str] = frozenset()) -> bool:
    """Whether `text` holds a fact of `kind` (always, for a question that asks for no particular kind).

    `counted` is what a "how many" question counts, `counted_also` terms that stand for it (the model's
    neighbours of its words: "people" are counted as "700 individuals"); `about` the question's terms: what a
    "when" asks the time of, and the places a "where" names already.
    """
    if not kind:
        return True
    if kind == "how many":
        return _counts(counted, text, counted_also)
    if kind == "when" and about:
        return _dated(about, text)
    if kind == "where":
        return _placed(about, text)
    if kind == "why":
        return True  # a reason is preferred (`gives_reason`), never required
    if kind == "who":
        return any(m.group(0).lower() not in _SENTENCE_OPENERS for m in _CAPITALISED_WORD.finditer(text))
    return bool(_HOLDS[kind](text))


def gives_reason(text: str) -> bool:
    """Whether `text` marks a cause or a purpose ("because", "aimed at", "thus raising its status")."""
    return bool(_REASON.search(text))


def _placed(about: frozenset[str], text: str) -> bool:
    """A place after a preposition that the question does not name already: "in Vienna" is no answer to
    "Where will the Vienna office move?", "in Geneva" is; nor "in Asia" to where an Asian office opens."""
    # "in Japan" is no answer to "where in Tokyo": the country of a capital the question names is named too.
    about = about | {t for a in about if a in _CAPITAL_TERMS for t in terms(_CAPITAL_TERMS[a])}
    for match in _PLACE.finditer(text):
        place = terms(match.group(3))
        if not any(_same_place(a, p) for a in about for p in place):
            return True
    return False


_DEMONYM_ENDINGS = ("", "n", "an", "ian", "ean", "es", "i")  # as terms: asia-n, japan-es(e), europ-ean


def _same_place(a: str, b: str) -> bool:
    """One place, or a place and its people: "asia" and "asian", "japan" and "japanes" (Japanese); not
    "niger" and "nigeria", nor "india" and "indiana", which a word family's shared prefix would join."""
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return any(long == short + ending for ending in _DEMONYM_ENDINGS)


def _dated(about: frozenset[str], text: str) -> bool:
    """A date or time close to a word of what is asked about: "due to open next year" dates the opening,
    while "the opening was discussed … at the end of January" dates the talks, and "NATO will open an
    office, a report claimed on Wednesday" the report (unless the report is what is asked about)."""
    for match in _WHEN.finditer(text):
        reported = _REPORTED.search(text, max(0, match.start() - REPORTED_REACH), match.start())
        if reported and not any(same_word_family(a, b) for a in about for b in terms(reported.group(1))):
            continue
        around = " ".join(text[:match.start()].split()[-WHEN_WINDOW:] + text[match.end():].split()[:WHEN_WINDOW])
        if any(same_word_family(a, b) for a in about for b in terms(around)):
            return True
    return False


def _counts(counted: str, text: str, counted_also: frozenset[str] = frozenset()) -> bool:
    """A number that is no year, with a word of the counted thing close by when the question names one
    ("31 members" for "how many members", "a population of 14 million"; NATO's 31 members are no count of
    the office's staff)."""
    wanted = set(terms(counted))
    if wanted:
        wanted |= counted_also
    for match in _NUMBER.finditer(text):
        if _YEAR.match(match.group(1)):
            continue
        if not wanted:
            return True
        around = " ".join(text[:match.start()].split()[-COUNTED_WINDOW:] + text[match.end():].split()[:COUNTED_WINDOW])
        if any(same_word_family(a, b) for a in wanted for b in terms(around)):
            return True
    return False


def speaks(speaker: str, text: str) -> bool:
    """Whether `speaker` acts in `text` (says, warns, holds a view), not merely stands in a list or as an object."""
    if not speaker:
        return True
    named, patterns = _speaker_patterns(speaker)
    # Every pattern holds a name: a text naming none of the forms is settled by one scan, not five.
    return bool(named.search(text)) and any(pattern.search(text) for pattern in patterns)


@lru_cache(maxsize=256)
def _speaker_patterns(speaker: str) -> tuple[re.Pattern[str], tuple[re.Pattern[str], ...]]:
    """The speaker's names as one pattern, and the ways a text has them speak, every form in each: compiled
    once per speaker (an answer checks a speaker against every article and paragraph it weighs)."""
    name = "(?:" + "|".join(_speaker_forms(speaker)) + ")"
    return re.compile(name), tuple(re.compile(pattern) for pattern in (
        rf"\b{name}(?:'s|’s)?(?:\s+[A-Z][\w-]*){{0,4}}\s+(?:\w+ly\s+)?{_ACTING}",  # Li warned; X's Foreign Ministry said
        rf"\b{_SPEECH}\s+(?:the\s+)?{name}\b",  # said Mao Ning
        rf"\baccording to\s+(?:the\s+)?{name}\b",
        rf"\b{name}(?:'s|’s)\s+(?:\w+\s+)?{_SPEAKER_NOUNS}\b",  # Beijing's reaction
        # X, head of Y, said; not a list ("South Korea, Australia and New Zealand, with…")
        rf"\b{name}\b,\s(?=[a-z])[^.]{{0,160}}?,\s(?:\w+\s+){{0,2}}{_ACTING}",
    ))


def speaker_names(speaker: str) -> list[str]:
    """The names `speaker` goes by: itself; the country a capital or a seat of government speaks for, and
    that country's people ("Paris" → France, French); a country's capital and people ("France" → Paris).

    The names after the first are places, whole: "States" alone is no form of the United States."""
    key = " ".join(speaker.lower().split())
    country = CAPITALS.get(key)
    if country:
        return [speaker, country, *_DEMONYMS.get(country.lower(), ())]
    # A country speaks through its capital and its people: "Paris thinks…", "French President Macron said".
    capital = [_CAPITAL_OF[key]] if key in _CAPITAL_OF else []
    return [speaker, *capital, *_DEMONYMS.get(key, ())] if speaker else []


def written_forms(speaker: str) -> list[str]:
    """The ways an article may write `speaker`: the speaker check (`speaks`) and the retriever's speaker
    ranking both read these.

    Later mentions use one name ("Hatoyama" for Yukio Hatoyama, "Li" for Li Shangfu), a country
    speaks through its people and offices ("Russian Foreign Minister…", "Chinese officials"), and a
    capital for its country.
    """
    names = speaker_names(speaker)
    return list(dict.fromkeys(form for n, name in enumerate(names)
                              for form in _name_forms(name, place=n > 0 or " ".join(name.lower().split()) in CAPITALS)))


def _speaker_forms(speaker: str) -> list[str]:
    """`written_forms` as patterns, matched in any case (a reader may type "china"); "US" is matched as
    written, never as the pronoun "us"."""
    return [(r"(?:" if form.replace(".", "").isupper() else r"(?i:")
            + r"\s+".join(re.escape(word) for word in form.split()) + ")" for form in written_forms(speaker)]


def _name_forms(speaker: str, place: bool = False) -> list[str]:
    words = speaker.split()
    # A person is written by one name later ("Li" for Li Shangfu); "South" is no short form of South Korea,
    # nor "US" or "Department" of the US State Department, which is "the State Department" later, while
    # the Xinhua News Agency is "Xinhua".
    if words[-1].lower() in _BODY_WORDS:
        placed = words[0].isupper() or words[0].lower() in _COUNTRY_WORDS
        forms = [speaker] + ([" ".join(words[1:])] if placed and len(words) > 2 else
                             [words[0]] if not placed and len(words) > 2 else [])
    elif len(words) == 1 or place or words[0].capitalize() in PLACE_OPENERS:
        forms = [speaker]
    else:
        forms = [speaker, words[-1], words[0]]
    if len(words) == 1 and len(speaker) >= 5:
        stem = speaker[:-1] if speaker[-1].lower() in "aeiou" else speaker
        forms += [speaker + "n", speaker + "ns", stem + "ese", stem + "ian", stem + "ians"]
    return forms


def refusal(asked_for: Asked, mentioned: list[str], documents: str = "articles") -> str:
    """The refusal text: what is missing, and what the documents (the corpus's own word for them: articles,
    pages) do mention, when that is known."""
    what = asked_for.missing
    if not what:
        return f"The {documents} don't say. {REFUSAL_TAIL}"
    if mentioned:
        return f"The {documents} mention {_listed(mentioned)} but don't {what}. {REFUSAL_TAIL}"
    return f"The {documents} don't {what}. {REFUSAL_TAIL}"


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _possessive(name: str) -> str:
    mark = "’" if "’" in name else "'"  # as the reader wrote it
    return name + mark if name.endswith("s") else name + mark + "s"


def _strip_article(text: str) -> str:
    return re.sub(r"^(the|a|an)\s+", "", text, flags=re.IGNORECASE)
