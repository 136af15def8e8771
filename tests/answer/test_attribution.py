"""Attributed questions: "according to X", whose words a paragraph holds, and dates near what they date."""

from __future__ import annotations

from rag.answer.asked import asked, gives_reason, holds, speaker_names, speaks, without_attribution
from rag.answer.attribution import scope_starts
from rag.config import Settings
from rag.models.terms import terms
from rag.pipeline import RAG, ensure_index
from rag.schema import Turn


def test_a_pronoun_paragraph_reaches_back_to_the_named_speaker():
    paragraphs = [
        "The summit opened on Monday.",
        "Ivanov said the plan is clearly aimed at containment.",
        "He also expressed confidence that others would join.",
        "At the same time, from his point of view, the course can end in conflict.",
        "Maria Petrova, an analyst, suggested that the office changes little.",
    ]
    starts = scope_starts(paragraphs)
    assert starts[3] == 1  # "his point of view" → "He also…" → Ivanov's quote
    assert starts[4] == 3  # a paragraph naming its own speaker keeps only the one before
    assert starts[0] == 0 and starts[1] == 0


def test_a_running_quote_carries_the_attribution_on():
    paragraphs = ["Tanaka said in an interview that the approach is wrong:", "I think we need another way.",
                  "He added that ties should be balanced."]
    assert scope_starts(paragraphs)[2] == 0


def test_the_scope_stops_after_a_few_paragraphs():
    paragraphs = ["Ivanov spoke first."] + ["He went on."] * 6
    assert scope_starts(paragraphs)[6] == 3


def test_according_to_and_in_someones_view_name_a_speaker():
    assert asked("What changes now, according to Ivanov?").speaker == "Ivanov"
    assert asked("In Maria Petrova's view, is the office a turning point?").speaker == "Maria Petrova"
    assert asked("According to the report, when will it open?").speaker == ""  # a common noun is no speaker
    assert without_attribution("What changes now, according to Ivanov?") == "What changes now?"
    assert without_attribution("In Maria Petrova's view, is the office a turning point?") == \
        "is the office a turning point?"
    assert without_attribution("Who opposed it?") == "Who opposed it?"


def test_a_when_needs_a_date_near_what_it_dates():
    opening = frozenset(terms("open"))
    assert holds("when", "The proposed office was due to open next year in Tokyo.", about=opening)
    assert not holds("when", "Opening an office was discussed by the two leaders during the latter's long visit "
                             "to the capital at the end of January.", about=opening)
    assert holds("when", "Talks ended in January.")  # nothing to be near: any date holds
    # The date after a verb of saying dates the saying, not the opening; it answers when the saying is asked.
    reported = "NATO will open its first Asian office in Japan, a media report claimed on Wednesday."
    assert not holds("when", reported, about=opening)
    assert holds("when", reported, about=frozenset(terms("claim report")))
    assert holds("when", "The office will open on Wednesday, officials said.", about=opening)
    assert holds("when", "Member states in July agreed to open the office.", about=opening)  # "states": a noun


def test_a_where_needs_a_place_the_question_does_not_name_already():
    asian_office = frozenset(terms("first Asian office"))
    assert not holds("where", "If set up, it would be NATO's first branch office in Asia.", about=asian_office)
    assert not holds("where", "It will open a permanent NATO mission in the Asia-Pacific region.", about=asian_office)
    assert holds("where", "NATO will open its first Asian office in Japan.", about=asian_office)
    assert holds("where", "The office will be in Asia.", about=frozenset(terms("NATO office")))
    assert holds("where", "The troops moved to Nigeria.", about=frozenset(terms("Niger troops")))  # another place
    assert not holds("where", "The talks were in Japan.", about=frozenset(terms("Japanese talks")))


def test_a_speakers_words_two_paragraphs_from_the_name_are_found_and_cited(rag: RAG):
    answer = rag.ask("According to Kistanov, what could the consequences be?")
    assert not answer.refused
    assert "direct military confrontation" in answer.citations[0].text
    assert any("direct military confrontation" in p.chunk.text for p in answer.passages[:5])
    for citation in answer.citations:
        raw = rag.documents[citation.doc_id].raw
        assert raw[citation.start:citation.end] == citation.text


def test_the_speaker_is_whose_words_not_what_is_asked(rag: RAG):
    answer = rag.ask("In Kashin's view, what does the representation allow?")
    assert "quickly resolve issues" in answer.citations[0].text


def test_people_counted_as_individuals_and_an_empty_follow_up_are_answered(rag: RAG):
    counted = rag.ask("How many people has Japan put sanctions on over the war in Ukraine?")
    assert not counted.refused and "700" in counted.text
    placed = rag.ask("And where is it going to be?", history=[Turn("When is the next NATO summit?")])
    assert not placed.refused and "Vilnius" in placed.text
    for answer in (counted, placed):
        for citation in answer.citations:
            assert rag.documents[citation.doc_id].raw[citation.start:citation.end] == citation.text


def test_a_life_event_or_role_no_article_mentions_is_refused_and_the_same_person_still_answered(rag: RAG):
    assert asked("Where was Mao Ning born?").focus == "born"
    assert asked("Who will be in charge of the office in Tokyo?").focus == "charge"
    assert asked("Where is the summit?").focus == ""
    born = rag.ask("Where was Mao Ning born?")
    assert born.refused and "don't say where they were born" in born.text
    charge = rag.ask("Who will be in charge of the NATO office in Tokyo?")
    assert charge.refused and "don't say who is in charge" in charge.text
    said = rag.ask("What did Mao Ning say about Asia?")  # the same person, a fact the articles give
    assert not said.refused and said.citations


def test_a_british_spelling_finds_the_articles_american_one(rag: RAG):
    # The articles write "Defense Minister"; unfolded, "defence" matched nothing and the US chiefs' chairman answered.
    answer = rag.ask("What did the defence minister say about alliances?")
    assert not answer.refused and "Li Shangfu" in answer.citations[0].text
    for citation in answer.citations:
        assert rag.documents[citation.doc_id].raw[citation.start:citation.end] == citation.text


def test_a_capital_speaks_for_its_country(rag: RAG):
    assert speaker_names("Beijing") == ["Beijing", "China"] and speaker_names("Kashin") == ["Kashin"]
    assert speaks("Beijing", "Chinese officials warned the bloc to stay home.")
    assert not speaks("Beijing", "Tokyo said the office would open next year.")
    # The paragraph says "China has pushed back"; "Beijing" is not in it. Without the capital's country the
    # speaker ranking found only paragraphs that write "Beijing", and this one was not among the five.
    answer = rag.ask("What does Beijing make of NATO pushing into Asia?")
    top = [(p.chunk.doc_id, p.chunk.clean) for p in answer.passages[:5]]
    assert any("China has pushed back" in text and "Beijing" not in text for _, text in top)


def test_a_why_prefers_a_sentence_that_gives_a_reason_and_never_requires_one(tmp_path, embedder):
    assert asked("Why did Japan open its own mission?").kind == "why"
    assert asked("For what reason did Japan open it?").kind == "why"
    assert asked("What for?").kind == "why" and asked("What for example did he say?").kind == ""
    assert asked("Why did Japan open its own mission?").missing == "say why"
    assert gives_reason("It was separated from the embassy, thus raising its status.")
    assert not gives_reason("Japan opened a separate mission to NATO last year.")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "mission.txt").write_text(
        "The mission\n\nThe ministry moved the mission to Brussels in May.\n\n"
        "The ministry moved the mission, thus giving it its own status.\n\n"
        "Officials in Tokyo met the press on Monday.\n", encoding="utf-8")
    settings = Settings.load(env={}, corpus_dir=corpus, index_dir=tmp_path / "index")
    ensure_index(settings, embedder)
    rag = RAG(settings, embedder)
    answer = rag.ask("Why did the ministry move the mission?")
    assert not answer.refused and "thus giving it its own status" in answer.citations[0].text
    # No sentence marking a reason is no refusal: "saying that it would undermine ties" gives one unmarked.
    assert not rag.ask("Why did officials in Tokyo meet the press?").refused


def test_a_further_sentence_of_the_same_article_must_add_words_that_matter(rag: RAG):
    # Kashin's next paragraph names "NATO" and "office" too; those words alone are no reason to cite it.
    answer = rag.ask("What will NATO be able to do faster with the office, in Kashin's view?")
    assert [c.clean for c in answer.citations] == [
        "The representation will allow them to quickly resolve issues related to cooperation, joint exercises and "
        "other military integration."]
