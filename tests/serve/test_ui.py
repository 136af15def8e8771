"""The chat: its plain `respond` function, then end to end in headless Chromium.

The browser tests run the real server (uvicorn on a free 127.0.0.1 port) and
the Debian Chromium through Playwright. Screenshots of the chat and of the
source view go to tests/artifacts/ for a person to look at.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from html import escape, unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import gradio as gr
import httpx
import pytest

from rag.config import PROJECT_ROOT
from rag.models.embedding import Embedder
from rag.pipeline import RAG, ensure_index
from rag.schema import Turn
from rag.serve.api import create_app
from rag.serve.ui import EXAMPLES, Chat, user_message
from tests.conftest import ARTIFACTS, SMALL_CORPUS
from tests.servers import ANSWER_TIMEOUT_MS, RunningApp, ask_in_frame, ask_in_page, serve_files, start_app

HEADLINE = "Who opposed the Tokyo office?"
LOCAL_HOSTS = {"127.0.0.1"}


# --- the plain function, no browser


def shown_answer(html: str) -> str:
    """The text of a reply's answer element, as a reader sees it (links as their text)."""
    inner = re.search(r'<div class="rag-answer">(.*?)</div>', html, flags=re.DOTALL).group(1)
    return unescape(re.sub(r"<[^>]+>", "", inner))


def test_respond_renders_linked_markers_and_highlighted_sources(rag: RAG) -> None:
    html = Chat(rag).respond(HEADLINE, [])
    answer = rag.ask(HEADLINE)

    for citation in answer.citations:
        link = f'<a class="rag-cite" href="{escape(citation.url)}" title="open source {citation.n}">[{citation.n}]</a>'
        assert link in html
        assert f"<mark>{escape(citation.clean)}</mark>" in html
        assert f"paragraph {citation.paragraph}" in html
    assert shown_answer(html) == answer.text


def test_chat_keeps_the_conversation_as_data(rag: RAG) -> None:
    chat = Chat(rag)
    china = "What did China say about the office?"
    _, shown, asked = chat.add_question(china, [])
    shown, turns = chat.add_answer(asked, shown, [])
    _, shown, asked = chat.add_question("And Russia?", shown)
    shown, turns = chat.add_answer(asked, shown, turns)

    first, follow_up = rag.ask(china), rag.ask("And Russia?", [Turn(china, rag.ask(china).text)])
    assert turns == [Turn(china, first.text), Turn("And Russia?", follow_up.text)]
    assert [m["role"] for m in shown] == ["user", "assistant", "user", "assistant"]
    assert shown[-1]["content"] == chat.respond("And Russia?", turns[:1])
    assert shown_answer(shown[-1]["content"]) == follow_up.text
    assert "Russia" in follow_up.text


def test_conversation_keeps_questions_exact_and_drops_unanswered_ones(rag: RAG) -> None:
    chat = Chat(rag)
    question = '<img src="http://203.0.113.9/x.png"> & "quotes" Who opposed the Tokyo office?'
    _, shown, asked = chat.add_question("x" * 2001, [])
    with pytest.raises(gr.Error):
        chat.add_answer(asked, shown, [])
    _, shown, asked = chat.add_question(question, shown)
    shown, turns = chat.add_answer(asked, shown, [])

    assert turns == [Turn(question, rag.ask(question).text)]
    assert shown[1]["content"] == ("&lt;img src=&quot;http://203.0.113.9/x.png&quot;&gt; &amp; &quot;quotes&quot; "
                                   "Who opposed the Tokyo office?")
    assert user_message(question) == shown[1]


def test_respond_refuses_with_closest_passages(rag: RAG) -> None:
    html = Chat(rag).respond("What is the population of Tokyo?", [])

    assert shown_answer(html) == ("The articles mention Tokyo but don't give the population. "
                                  "The closest passages are listed below.")
    assert 'class="rag-reply rag-refused"' in html and "Closest passages" in html
    assert html.count('class="rag-source"') == 3


def test_respond_reports_a_question_over_the_limit(rag: RAG) -> None:
    with pytest.raises(gr.Error) as raised:
        Chat(rag).respond("x" * 2001, [])

    assert raised.value.message == ("the question has 2001 characters; the limit is 2000 "
                                    "(setting max_question_chars, RAG_MAX_QUESTION_CHARS)")


# --- in the browser


def api_answer(running: RunningApp, question: str, history: list[dict] | None = None) -> dict:
    reply = httpx.post(f"{running.url}/api/ask", json={"question": question, "history": history or []}, timeout=60)
    return reply.json()


# The heights of a capital A and H in the h1's font and weight, once the page's font face for them has loaded.
CAPITAL_HEIGHTS = """async () => {
    const style = getComputedStyle(document.querySelector('h1'));
    const font = `${style.fontWeight} 100px ${style.fontFamily}`;
    await document.fonts.load(font, 'AH');
    const context = document.createElement('canvas').getContext('2d');
    context.font = font;
    const height = letter => Math.round(context.measureText(letter).actualBoundingBoxAscent);
    return {weight: style.fontWeight, A: height('A'), H: height('H')};
}"""


def test_chat_end_to_end(server: RunningApp, browser) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/")
    page.wait_for_selector("#rag-question textarea")
    header = page.locator(".rag-corpus").inner_text()
    assert "these 5 articles:" in header and "China Claims Most Asian States Oppose NATO Expansion" in header
    # The heading's semibold is set in a face that has every letter: Gradio's SemiBold files are subsets whose
    # capital A is a smaller glyph, shorter than an H beside it ("Ask", "NATO").
    heights = page.evaluate(CAPITAL_HEIGHTS)
    assert heights["weight"] == "600" and heights["A"] == heights["H"], heights

    # The headline question: an answer with at least two markers, the sources panel quoting the cited sentences.
    reply = ask_in_page(page, HEADLINE)
    expected = api_answer(server, HEADLINE)
    markers = reply.locator("a.rag-cite")
    assert markers.count() == len(expected["citations"]) >= 2
    assert reply.locator(".rag-answer").inner_text().startswith("Previously, a British business newspaper")
    assert reply.locator(".rag-sources mark").all_inner_texts() == [c["quote"] for c in expected["citations"]]
    for item, citation in zip(reply.locator(".rag-source").all(), expected["citations"], strict=True):
        assert citation["title"] in item.inner_text() and f"paragraph {citation['paragraph']}" in item.inner_text()
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

    # Following a marker opens the source view in a new tab, the cited span in <mark>, scrolled to it.
    first = expected["citations"][0]
    assert markers.first.get_attribute("target") == "_blank"
    with context.expect_page() as opened:
        markers.first.click()
    source = opened.value
    source.wait_for_load_state()
    url = urlsplit(source.url)
    assert url.path == f"/source/{first['doc_id']}" and url.fragment == f"p{first['paragraph']}"
    assert (int(parse_qs(url.query)["start"][0]), int(parse_qs(url.query)["end"][0])) == (first["start"], first["end"])
    assert " ".join(source.locator("mark").all_inner_texts()) == first["quote"]
    top = source.locator(f"#p{first['paragraph']}").evaluate("el => el.getBoundingClientRect().top")
    assert 0 <= top < source.viewport_size["height"]
    assert source.locator("link[rel=stylesheet]").evaluate("l => l.sheet !== null")
    source.screenshot(path=str(ARTIFACTS / "source_view.png"))
    source.close()

    # An unanswerable question reads as a refusal and still offers passages.
    refusal = ask_in_page(page, "What is the population of Tokyo?")
    assert refusal.locator(".rag-answer").inner_text() == "The articles mention Tokyo but don't give the population. The closest passages are listed below."
    assert refusal.locator(".rag-closest .rag-source").count() == 3

    # A follow-up is read with the turn before it.
    ask_in_page(page, "What did China say about the office?")
    follow_up = ask_in_page(page, "And Russia?")
    expected = api_answer(server, "And Russia?", [{"question": "What did China say about the office?"}])
    quotes = follow_up.locator(".rag-sources mark").all_inner_texts()
    assert quotes == [c["quote"] for c in expected["citations"]]
    assert any("Russia" in q for q in quotes)
    context.close()


def test_clearing_the_chat_forgets_the_conversation(server: RunningApp, browser) -> None:
    page = browser.new_page()
    page.goto(f"{server.url}/")
    page.wait_for_selector("#rag-question textarea")
    ask_in_page(page, "What did China say about the office?")
    page.locator("#rag-chat").get_by_label("Clear").click()
    page.wait_for_function("() => document.querySelectorAll('.rag-reply').length === 0", timeout=5_000)
    reply = ask_in_page(page, "And Russia?")

    alone = api_answer(server, "And Russia?")
    followed = api_answer(server, "And Russia?", [{"question": "What did China say about the office?"}])
    assert alone["citations"] != followed["citations"]
    assert reply.locator(".rag-sources mark").all_inner_texts() == [c["quote"] for c in alone["citations"]]
    page.close()


def test_chat_shows_a_pending_state_while_answering(server: RunningApp, browser) -> None:
    page = browser.new_page()
    page.goto(f"{server.url}/")
    page.wait_for_selector("#rag-question textarea")
    joins = []

    def slow_answer(route) -> None:
        # The second queue request is the answer's: hold it so the pending state can be seen.
        joins.append(route.request.url)
        if len(joins) == 2:
            time.sleep(1.5)
        route.continue_()

    page.route("**/gradio_api/queue/join*", slow_answer)
    page.locator("#rag-question textarea").fill(HEADLINE)
    page.locator("#rag-question textarea").press("Enter")

    page.locator("#rag-chat .message.bot.pending").wait_for(timeout=5_000)
    assert page.locator("#rag-chat").inner_text().count(HEADLINE) == 1  # the question shows at once
    page.locator(".rag-reply").wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert page.locator("#rag-chat .message.bot.pending").count() == 0
    page.close()


def test_embed_fits_a_narrow_frame(server: RunningApp, browser) -> None:
    page = browser.new_page(viewport={"width": 320, "height": 640})
    page.goto(f"{server.url}/embed/")
    # The empty chat offers example questions; one click asks it.
    page.locator("#rag-chat button", has_text=EXAMPLES[0]).click()
    page.locator(".rag-reply").wait_for(timeout=ANSWER_TIMEOUT_MS)
    reply = page.locator(".rag-reply").last

    assert reply.locator("a.rag-cite").count() >= 2
    assert reply.locator("a.rag-cite").first.get_attribute("target") == "_blank"
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    # No page chrome: the one heading is for screen readers, a 1-pixel box.
    assert page.locator("h1").evaluate_all("hs => hs.map(h => [h.textContent, h.getBoundingClientRect().width])") == [
        ["Ask the articles", 1]]
    page.screenshot(path=str(ARTIFACTS / "embed_320px.png"), full_page=True)
    page.close()


def test_chat_under_a_root_path(rag: RAG, embedder: Embedder, browser, tmp_path: Path) -> None:
    wiki = tmp_path / "wiki"
    wiki.mkdir()
    with serve_files(wiki) as wiki_url:
        settings = rag.settings.replace(root_path="/qa", frame_ancestors=("'self'", wiki_url))
        running = start_app(create_app(RAG(settings, embedder)), root_path="/qa")
        (wiki / "index.html").write_text(f'<h1>Wiki</h1><script src="{running.url}/widget.js"></script>',
                                         encoding="utf-8")
        context = browser.new_context()
        try:
            page = context.new_page()
            failed: list[str] = []
            context.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
            page.goto(f"{running.url}/")
            reply = ask_in_page(page, HEADLINE)
            hrefs = [a.get_attribute("href") for a in reply.locator("a").all()]
            assert hrefs and all(h.startswith("/qa/source/") for h in hrefs)
            with context.expect_page() as opened:
                reply.locator("a.rag-cite").first.click()
            source = opened.value
            source.wait_for_load_state()
            assert source.url.startswith(f"{running.url}/source/")
            assert source.locator("mark").count() >= 1
            assert source.locator("link[rel=stylesheet]").evaluate("l => l.sheet !== null")

            # The widget, loaded from /qa/widget.js on another origin, frames /qa/embed/, which answers.
            wiki_page = context.new_page()
            wiki_page.goto(f"{wiki_url}/index.html")
            assert wiki_page.locator("iframe").get_attribute("src") == f"{running.url}/embed/"
            frame = wiki_page.frame_locator("iframe")
            assert ask_in_frame(frame, HEADLINE).get_attribute("href").startswith("/qa/source/")
            assert failed == []
        finally:
            context.close()
            running.stop()


# --- hostile content

HOSTILE_ARTICLE = """\
Penguins <img src=x onerror="window.__pwned='title'"> parade in Oslo

The penguin parade in Oslo drew <script>window.__pwned = 'script'</script> large crowds of families on Sunday.

Organisers said <img src="http://203.0.113.7/img.png" onerror="window.__pwned='img'"> the penguin parade in Oslo will return next winter.

A [harmless looking link](javascript:window.__pwned='link') and ![tracking pixel](http://203.0.113.7/pixel.png) sat beside the penguin parade report, with <b>bold</b>, ${window.__pwned='template'} and {{constructor.constructor('window.__pwned=1')()}} in it.

<a href="javascript:window.__pwned='anchor'">The penguin parade</a> ended with <iframe src="http://203.0.113.7/frame"></iframe> a concert <style>body{background:url(http://203.0.113.7/bg.png)}</style> by the harbour in Oslo.
"""
HOSTILE_META = {"title": "Penguins <script>window.__pwned='meta'</script> on parade", "date": "2023-01-01",
                "source": '<img src="http://203.0.113.7/source.png">', "url": "javascript:window.__pwned='url'"}
HOSTILE_QUESTION = ('<img src="http://203.0.113.7/q.png" onerror="window.__pwned=\'question\'"> '
                    "What happened at the penguin parade in Oslo?")


@pytest.fixture(scope="module")
def hostile_server(settings, embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """A corpus of one hostile article and a real one, its own index, its own server."""
    root = tmp_path_factory.mktemp("hostile")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in SMALL_CORPUS:
        shutil.copy(PROJECT_ROOT / "corpus" / name, corpus / name)
    (corpus / "999_hostile.txt").write_text(HOSTILE_ARTICLE, encoding="utf-8")
    (corpus / "999_hostile.json").write_text(json.dumps(HOSTILE_META), encoding="utf-8")
    hostile_settings = settings.replace(corpus_dir=corpus, index_dir=root / "index")
    ensure_index(hostile_settings, embedder)
    running = start_app(create_app(RAG(hostile_settings, embedder)))
    yield running
    running.stop()


def test_hostile_article_renders_as_inert_text_everywhere(hostile_server: RunningApp, browser) -> None:
    context = browser.new_context()
    requested: list[str] = []
    context.on("request", lambda r: requested.append(r.url))
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    page.goto(f"{hostile_server.url}/")
    reply = ask_in_page(page, "What happened at the penguin parade in Oslo?")
    hostile = ask_in_page(page, HOSTILE_QUESTION)
    # The answer cites the sentence with the <img>: shown as its text, not loaded.
    assert ('Organisers said <img src="http://203.0.113.7/img.png" onerror="window.__pwned=\'img\'"> the penguin '
            "parade in Oslo will return next winter.") in reply.locator(".rag-answer").inner_text()
    assert "<script>window.__pwned='meta'</script>" in page.locator(".rag-corpus").inner_text()
    assert HOSTILE_QUESTION in page.locator("#rag-chat").inner_text()
    assert hostile.count() == 1
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(ARTIFACTS / "hostile_chat.png"), full_page=True)

    source = context.new_page()
    source.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    source.goto(f"{hostile_server.url}/source/999_hostile")
    text = source.locator("article").inner_text()
    assert "<script>window.__pwned = 'script'</script>" in text
    assert '<img src="http://203.0.113.7/img.png" onerror="window.__pwned=\'img\'">' in text
    assert "${window." in text and "{{constructor.constructor(" in text and "<iframe src=" in text
    assert source.locator("article img, article script, article iframe, article style, article b").count() == 0
    assert source.locator("a[href^='javascript:']").count() == 0
    assert source.evaluate("window.__pwned") is None

    embed = context.new_page()
    embed.goto(f"{hostile_server.url}/embed/")
    ask_in_page(embed, "What happened at the penguin parade in Oslo?")
    assert embed.evaluate("window.__pwned") is None

    for p in (page, source, embed):
        assert p.locator("a[href^='javascript:']").count() == 0
    outside = [u for u in requested if urlsplit(u).hostname not in LOCAL_HOSTS and not u.startswith(("data:", "blob:"))]
    assert outside == []
    assert dialogs == []
    context.close()
