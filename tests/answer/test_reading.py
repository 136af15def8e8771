"""Reading a question: its terms, what it asks for, and what it leans on in the conversation.

Plain functions on plain strings, so these run without the model; the
pipeline's use of them is tested in test_followups.py and test_answers.py.
"""

from __future__ import annotations

import pytest

from rag.answer.asked import Asked, asked, holds, refusal, speaks, written_forms
from rag.answer.reading import Names, QuestionReader, leans_on_earlier, named_people, read_in_conversation
from rag.config import PROJECT_ROOT
from rag.models.terms import terms, tokenize
from rag.models.vocabulary import word_neighbours
from rag.schema import Answer, QuestionError, Reading, Turn


@pytest.mark.parametrize("text", [
    "What's Japan's link to NATO?", "Who’s the head of the U.S. Joint Chiefs of Staff?", "", "   ",
    "NATO's 31 members, 2024 and 1956", "Ünïcödé naïve café — 東京", "a I x 1",
])
def test_terms_are_what_bm25_indexes(text: str):
    assert terms(text) == tokenize([text])[0]


@pytest.mark.parametrize(("british", "american"), [
    ("defence", "defense"), ("organisation", "organization"), ("militarised", "militarized"), ("theatre", "theater"),
    ("centres", "centers"), ("behaviour", "behavior"), ("favourite", "favorite"), ("programme", "program"),
    ("analyse", "analyze"), ("travelled", "traveled"), ("dialogue", "dialog"), ("labour", "labor"),
])
def test_british_and_american_spellings_are_one_term(british: str, american: str):
    assert terms(british) == terms(american) != []
    assert tokenize([british]) == tokenize([american])


@pytest.mark.parametrize(("one", "other"), [("four", "for"), ("filled", "filed"), ("timbre", "timber"),
                                            ("hour", "hor"), ("prise", "prize"), ("role", "rolled")])
def test_spelling_folds_keep_different_words_apart(one: str, other: str):
    assert terms(one) != terms(other)


def test_terms_of_every_corpus_line_are_what_bm25_indexes():
    lines = [line for path in sorted((PROJECT_ROOT / "corpus").glob("*.txt"))
             for line in path.read_text(encoding="utf-8").splitlines()]
    assert [terms(line) for line in lines] == tokenize(lines)


@pytest.mark.parametrize(("earlier", "question", "expected"), [
    # a pronoun names the person of the earlier question
    (["Who is Li Shangfu?"], "What did he say about the cold war?", "What did Li Shangfu say about the cold war?"),
    (["Who is Mao Ning?"], "What did her ministry say?", "What did Mao Ning's ministry say?"),
    (["Who is Mao Ning?"], "What did reporters ask her?", "What did reporters ask Mao Ning?"),
    # a bare question word asks the earlier question again
    (["Where will the NATO summit be held?"], "When?", "When will the NATO summit be held?"),
    (["Did Japan join NATO?"], "Why not?", "Why not?"),
    (["Did Japan join NATO?"], "Why?", "Why did Japan join NATO?"),
    # "and about X?" asks the same of another subject; "and X?" keeps the earlier question as context
    (["What did Mao Ning say about NATO?"], "And Li Shangfu?", "And Li Shangfu?"),
    (["What did Yukio Hatoyama say about Russia?"], "And about Ukraine?",
     "What did Yukio Hatoyama say about Ukraine?"),
    (["What did Lavrov say on Monday about Korea?"], "And about Taiwan?", "What did Lavrov say on Monday about Taiwan?"),
    (["Was the office opened on time?"], "And about Taiwan?", "And about Taiwan?"),
    # "it" stays: the earlier turn goes along as context
    (["What did the Nikkei report about NATO and Japan?"], "When is it supposed to open?",
     "When is it supposed to open?"),
    # a question word with only "it" and an empty verb is the bare question word
    (["When is the next NATO summit?"], "And where is it going to be?", "Where is the next NATO summit?"),
    (["Where will the NATO summit be held?"], "When will that happen?", "When will the NATO summit be held?"),
    (["When is the next NATO summit?"], "How many are there?", "How many are there?"),  # a count needs its noun
])
def test_follow_ups_are_made_to_stand_alone(earlier: list[str], question: str, expected: str):
    reading = read_in_conversation(question, [Turn(q) for q in earlier])
    assert reading.text == expected
    assert reading.context == earlier[-1]


def test_he_is_the_person_the_earlier_answer_named_when_the_question_named_none():
    turns = [Turn("Who leads the alliance?", "NATO Secretary General Jens Stoltenberg welcomed Japan's decision. [1]")]
    reading = read_in_conversation("What did he say about Japan?", turns)
    assert reading == Reading("What did Jens Stoltenberg say about Japan?", context="Who leads the alliance?",
                              earlier_answer=turns[0].answer, named="Jens Stoltenberg",
                               question="What did he say about Japan?", rewritten=True)


def test_a_chain_of_follow_ups_keeps_its_referent():
    turns = [Turn("Who is Vasily Kashin?"), Turn("What does he think of the office?")]
    assert read_in_conversation("Why?", turns).text == "Why does Vasily Kashin think of the office?"


@pytest.mark.parametrize(("question", "leans"), [
    ("When?", True), ("And Russia?", True), ("What did he say?", True), ("Why is it planned?", True),
    ("Where is NATO holding its summit?", False),  # "its" points inside the question
    ("Who opposed the Tokyo office?", False),
])
def test_which_questions_lean_on_the_turn_before(question: str, leans: bool):
    assert leans_on_earlier(question) is leans
    assert (read_in_conversation(question, [Turn("Who is Li Shangfu?")]).context != "") is leans


def test_a_question_with_no_history_stands_alone():
    assert read_in_conversation("What did he say?", []) == Reading("What did he say?", question="What did he say?")


@pytest.mark.parametrize(("text", "people"), [
    ("Prime Minister Fumio Kishida met South Korea's leaders", ["Fumio Kishida"]),
    ("Chinese Foreign Ministry Spokesperson Mao Ning said", ["Mao Ning"]),
    ("the Shangri-La Dialogue in Singapore", []),
    ("Who is Kashin?", ["Kashin"]),
    ("Kashin concluded", []),  # a lone capitalised word is a person only when asked about
])
def test_named_people(text: str, people: list[str]):
    assert named_people(text) == people


@pytest.mark.parametrize(("question", "expected"), [
    ("When did Sweden apply to join NATO?", Asked("when", missing="say when")),
    ("How many members does NATO have?", Asked("how many", counted="members", missing="say how many members")),
    ("What is the population of Tokyo?", Asked("how many", counted="population", missing="give the population",
                                                focus="population")),
    ("How old is Vasily Kashin?", Asked("how old", missing="say how old")),
    ("What did India say about NATO's plan?", Asked(speaker="India", missing="say what India said")),
    # a role speaks for its owner: the owner must speak, as Russia does through "Russian Foreign Minister…"
    ("What did Russia's foreign minister say?", Asked(speaker="Russia",
                                                      missing="say what Russia's foreign minister said")),
    ("What did his ministry say?", Asked()),
    ("Who is the mayor of Tokyo?", Asked("who", missing="name the mayor", focus="mayor")),
    ("Which country might Japan try to involve?", Asked()),
    ("What did he say about the office?", Asked()),  # "he" is for the conversation to name
    # a view asked of someone: what another party said is no answer
    ("How did Taiwan react to the news?", Asked(speaker="Taiwan", missing="give Taiwan's view")),
    ("What is Seoul's position on the office?", Asked(speaker="Seoul", missing="give Seoul's view")),
    ("But how has China responded?", Asked(speaker="China", missing="give China's view")),
    ("Did Turkey approve the application?", Asked()),  # as often an act as a view
    ("Does the plan have support from Japan?", Asked()),  # only a name is asked for its view
    ("How will Japan take part in the summit?", Asked()),
    # "the" is no word of the name: a body of three words is still a speaker
    ("What did the US State Department say?", Asked(speaker="US State Department",
                                                    missing="say what US State Department said")),
    ("How long has Stoltenberg led NATO?", Asked("how long", missing="say how long")),
    ("How much does Japan spend on defence?", Asked("how much", missing="say how much")),
    ("How much support does the office have?", Asked("how many", missing="say how much")),  # a degree, not money
    ("How long until the office opens?", Asked("when", missing="say when")),
    ("What's the point of an office in Tokyo?", Asked("why", missing="say why")),
    ("How many countries besides the US belong to it?", Asked("how many", counted="countries",
                                                              missing="say how many countries")),
])
def test_what_a_question_asks_for(question: str, expected: Asked):
    assert asked(question) == expected


@pytest.mark.parametrize(("kind", "counted", "text", "held"), [
    ("when", "", "It opens in 2024.", True),
    ("when", "", "It was due to open next year in Tokyo.", True),
    ("when", "", "Sweden has also expressed intentions to join NATO in the past.", False),
    ("how many", "members", "a draft proposal among its 31 members", True),
    ("how many", "staff", "a draft proposal among its 31 members", False),
    ("how many", "", "It was founded in 1949.", False),  # a year counts nothing
    ("how old", "", "Kashin, 45, said so.", True),
    ("how old", "", "Kashin is director of the Center.", False),
    ("where", "", "The summit is in Vilnius.", True),
    ("where", "", "Her remark came on Wednesday, during a regular briefing in May.", False),  # times, no place
    ("who", "", "China objected.", True),
    ("who", "", "The office will open.", False),
    ("how long", "", "He has led the alliance for nine years.", True),
    ("how long", "", "Japan has been a partner since 2014.", True),
    ("how long", "", "He announced it in early April 2023.", False),  # a date is no duration
    ("how long", "", "Sanctions have been imposed since the start of the conflict.", True),
    ("how much", "", "Japan will spend 43 trillion yen over five years.", True),
    ("how much", "", "Spending rose to 2 percent of GDP.", True),
    ("how much", "", "The one-person liaison office will open next year.", False),  # a count is no amount
])
def test_a_sentence_holds_the_asked_fact(kind: str, counted: str, text: str, held: bool):
    assert holds(kind, text, counted) is held


def test_the_country_of_a_capital_the_question_names_is_no_answer_to_where():
    where_in_tokyo = frozenset(terms("Where exactly in Tokyo will the office be?"))
    assert not holds("where", "The office will open in Japan next year.", about=where_in_tokyo)
    assert holds("where", "The office will open in Minato next year.", about=where_in_tokyo)
    assert holds("where", "The office will open in Japan next year.", about=frozenset(terms("Where will it open?")))


def test_a_count_may_name_what_it_counts_in_the_articles_own_word():
    sanctioned = "Japan has sanctioned a total of 700 individuals, including 311 individuals from Russia's new regions."
    assert not holds("how many", sanctioned, "people")
    # The model's neighbours of "people" in the articles (rag/models/vocabulary.py) include "individuals".
    assert holds("how many", sanctioned, "people", counted_also=frozenset(terms("individuals")))
    assert not holds("how many", "a draft proposal among its 31 members", "people",
                     counted_also=frozenset(terms("individuals")))


@pytest.mark.parametrize(("speaker", "text", "speaking"), [
    ("India", "Japan and NATO will try to involve other states, for example, India.", False),
    ("Li Shangfu", "Li warned that a cold war mentality is resurgent.", True),
    ("Hatoyama", "Yukio Hatoyama divulged in an interview that the approach is wrong.", True),
    ("Mao Ning", "\"It is wrong,\" said Mao Ning.", True),
    ("Beijing", "Analysts call Beijing's reaction natural.", True),
    ("Kistanov", "Valery Kistanov, head of the Center for Japanese Studies, said in a conversation.", True),
    ("South Korea", "Talks with partners such as South Korea, Australia and New Zealand, with challenges from China "
                    "in mind, the Nikkei reported.", False),  # a list, not an apposition
    ("Russia", "Russian Foreign Minister Sergei Lavrov said the region is open.", True),
    ("china", "Chinese officials said the plan is wrong.", True),  # a reader types in lower case
    ("Li", "Lithuania hosted the summit and said so.", False),  # a short name is no prefix of others
    ("Mao", "Many officials said nothing.", False),
    ("India", "Indiana voters said no.", False),
    ("Beijing", "China's Foreign Ministry said the bloc should stay home.", True),  # a capital speaks for its country
    ("Washington", "The United States warned against the plan.", True),
    ("Washington", "EU member states said the plan was fine.", False),  # "States" alone is no United States
    ("Washington", "The United Nations warned against the plan.", False),
    ("'Kashin", "As said 'Kashin, the expert.", True),  # a name opening with a quote mark, as a question may give
    # a body is written without its country later, never by one word of its name
    ("US State Department", "The State Department said it had no comment.", True),
    ("US State Department", "The US said it had no comment.", False),  # the US is no short form of it
    ("Xinhua News Agency", "Xinhua said the plan was wrong.", True),
    ("Xinhua News Agency", "Kyodo News Agency said so.", False),
    ("White House", "The House passed the bill.", False),  # a seat is no first and last name
    # a country speaks through its capital and its people, "US" as written and never as "us"
    ("France", "French President Emmanuel Macron had expressed his opposition.", True),
    ("France", "Paris thinks that NATO should not expand.", True),
    ("Paris", "French President Emmanuel Macron had expressed his opposition.", True),
    ("Berlin", "German Chancellor Olaf Scholz said the plan was fine.", True),
    ("America", "The US must be careful, Milley said.", True),  # another name of a country
    ("United States", "The US said it would not.", True),
    ("United States", "He told us nothing.", False),
    ("Foreign Ministry", "The ministry said nothing.", False),
    ("Kremlin", "Russian Foreign Minister Sergei Lavrov said the region is open.", True),  # a seat of government
])
def test_a_speaker_speaks_or_is_merely_named(speaker: str, text: str, speaking: bool):
    assert speaks(speaker, text) is speaking


def test_the_speaker_check_and_the_speaker_ranking_read_the_same_written_forms():
    assert written_forms("Li Shangfu") == ["Li Shangfu", "Shangfu", "Li"]
    assert "US" not in written_forms("US State Department")  # a body is not shortened to one word
    assert {"Beijing", "China", "Chinese"} <= set(written_forms("Beijing"))


def test_a_refusal_names_what_is_missing():
    assert refusal(asked("When did Sweden apply to join NATO?"), ["Sweden", "NATO"]) == (
        "The articles mention Sweden and NATO but don't say when. The closest passages are listed below.")
    assert refusal(asked("How many troops?"), []) == (
        "The articles don't say how many troops. The closest passages are listed below.")
    assert refusal(asked("Why did it happen?"), ["NATO"]) == (
        "The articles mention NATO but don't say why. The closest passages are listed below.")
    assert refusal(asked("What happened?"), ["NATO"]) == (
        "The articles don't say. The closest passages are listed below.")


def test_word_neighbours_come_from_the_model_and_leave_names_out(embedder):
    texts = ["Macron expressed his opposition to the plan.", "China opposes the office and is against it.",
             "The office opens quickly.", "Kashin and Kistanov spoke. Kashin spoke again."]
    neighbours, words = word_neighbours(texts, embedder)
    assert {n for n, _ in neighbours["against"]} & {"oppos", "opposit"}  # "opposes", "opposition"
    assert all(0.6 <= similarity <= 1.0 for close in neighbours.values() for _, similarity in close)
    assert "kashin" not in neighbours and all(n != "kashin" for close in neighbours.values() for n, _ in close)
    assert word_neighbours([], embedder)[0] == {}
    # Words already embedded are taken as they are: the neighbours come out the same.
    assert word_neighbours(texts, embedder, known=words)[0] == neighbours



def test_the_reader_answers_a_bare_last_turn_again_only_when_the_question_leans_on_it():
    asked_again: list[Reading] = []

    def answer(reading: Reading) -> Answer:
        asked_again.append(reading)
        return Answer(reading.question, "NATO Secretary General Jens Stoltenberg welcomed it. [1]", (), (), False)

    reader = QuestionReader(Names(), max_chars=100)
    reading = reader.read("  What did he\tsay? ", [Turn("Who is the first?"), Turn("Who leads the alliance?")], answer)
    # Once, for the last turn only, read against the turns before it; the question itself is read once, normalised.
    assert [r.question for r in asked_again] == ["Who leads the alliance?"]
    assert reading.question == "What did he say?" and reading.named == "Jens Stoltenberg" and reading.rewritten
    assert reading.earlier_answer == "NATO Secretary General Jens Stoltenberg welcomed it. [1]"
    asked_again.clear()
    reader.read("Where is NATO holding its summit?", [Turn("Who leads the alliance?")], answer)  # stands alone
    reader.read("What did he say?", [Turn("Who leads the alliance?", "Jens Stoltenberg spoke.")], answer)  # answered
    reader.read("What did he say?", [Turn("Who leads the alliance?")])  # no way to answer: read as given
    assert asked_again == []
    # An earlier question that cannot be asked leaves nothing to lean on; the question itself must be askable.
    assert reader.read("What did he say?", [Turn(" ")], answer).earlier_answer == ""
    with pytest.raises(QuestionError, match="the question has 101 characters; the limit is 100"):
        reader.read("x" * 101, [Turn("Who leads the alliance?")], answer)
    assert asked_again == []

def test_a_refused_earlier_turn_gives_the_follow_up_nothing_to_point_into():
    refused = Turn("Who is Vasily Kashin?", "The articles don't say. The closest passages are listed below.")
    reading = read_in_conversation("What does he think?", [refused])
    assert reading == Reading("What does Vasily Kashin think?", context=refused.question, named="Vasily Kashin",
                              question="What does he think?", rewritten=True)


def test_a_follow_up_asked_twice_is_read_as_the_first_time():
    first = read_in_conversation("Where is it?", [Turn("What did China say about the office?")])
    again = read_in_conversation("Where is it?", [Turn("What did China say about the office?"), Turn("Where is it?")])
    assert again == first


def test_places_and_bodies_are_no_people():
    assert named_people("Tokyo Governor Yuriko Koike met New Zealand and East Asia leaders") == ["Yuriko Koike"]


def test_a_price_in_pence_is_an_amount_and_how_much_is_told_in_its_own_words():
    # Pages of prices write "50p" and "45p per mile"; a unit glued to the digits still makes a number.
    assert holds("how much", "Car travel is paid at 45p per mile.")
    assert holds("how many", "Colour pages cost 50p each.")
    assert not holds("how many", "Colour pages cost extra.")
    assert asked("How much is a colour page?").missing == "say how much"
    assert asked("How many pages can I print?").missing == "say how many pages"
