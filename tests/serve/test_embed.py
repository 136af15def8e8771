"""Embedding in a wiki: the README/API.md snippets on a static page of another origin, in headless Chromium.

Two stand-in wikis run on their own ports: one whose origin the server lists
in `frame_ancestors`, one it does not. The page of the first frames `/embed/`
(by the iframe snippet, and by the script widget) and gets cited answers; the
second is refused by the browser because of the `frame-ancestors` header.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from rag.config import PROJECT_ROOT
from rag.models.embedding import Embedder
from rag.pipeline import RAG
from rag.serve.api import create_app
from tests.conftest import ARTIFACTS
from tests.servers import RunningApp, ask_in_frame, serve_files, start_app

API_DOC = PROJECT_ROOT / "docs" / "API.md"
HEADLINE = "Who opposed the Tokyo office?"


def snippet(name: str, server_url: str) -> str:
    """The html snippet `name` of docs/API.md, pointed at `server_url`."""
    text = API_DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- snippet: {name} -->\s*```html\n(.*?)```", text, flags=re.DOTALL)
    assert match, f"docs/API.md has no '<!-- snippet: {name} -->' html block"
    return match.group(1).replace("http://127.0.0.1:7860", server_url)


@pytest.fixture(scope="module")
def wikis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path, Path]]:
    allowed_dir, other_dir = tmp_path_factory.mktemp("wiki"), tmp_path_factory.mktemp("other_wiki")
    with serve_files(allowed_dir) as allowed, serve_files(other_dir) as other:
        yield allowed, other, allowed_dir, other_dir


@pytest.fixture(scope="module")
def server(rag: RAG, embedder: Embedder, wikis: tuple[str, str, Path, Path]) -> Iterator[RunningApp]:
    allowed = wikis[0]
    running = start_app(create_app(RAG(rag.settings.replace(frame_ancestors=("'self'", allowed)), embedder)))
    yield running
    running.stop()


def wiki_page(directory: Path, body: str) -> str:
    (directory / "page.html").write_text(
        f'<!doctype html><html><head><meta charset="utf-8"><title>Team wiki</title></head>'
        f"<body><h1>Team wiki</h1><p>Ask the chatbot:</p>{body}<p>Footer.</p></body></html>", encoding="utf-8")
    return "page.html"


@pytest.mark.parametrize("kind", ["iframe", "widget"])
def test_wiki_page_embeds_the_chat_and_gets_a_cited_answer(server: RunningApp, browser, wikis, kind: str) -> None:
    allowed, _, allowed_dir, _ = wikis
    name = wiki_page(allowed_dir, snippet(kind, server.url))
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    requested: list[str] = []
    context.on("request", lambda r: requested.append(r.url))
    page = context.new_page()
    page.goto(f"{allowed}/{name}")

    assert page.locator("iframe").get_attribute("src") == f"{server.url}/embed/"
    frame = page.frame_locator("iframe")
    marker = ask_in_frame(frame, HEADLINE)
    assert frame.locator(".rag-reply a.rag-cite").count() >= 2
    assert frame.locator(".rag-sources mark").count() >= 2
    if kind == "widget":
        assert page.locator("iframe").evaluate("f => f.style.height") == "600px"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "wiki_widget.png"), full_page=True)

    # A citation opens the source view in a new tab, out of the frame.
    with context.expect_page() as opened:
        marker.click()
    source = opened.value
    source.wait_for_load_state()
    assert urlsplit(source.url).path.startswith("/source/")
    assert source.locator("mark").count() >= 1

    hosts = {urlsplit(u).hostname for u in requested if not u.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}
    context.close()


def test_a_wiki_not_listed_in_frame_ancestors_cannot_frame_the_chat(server: RunningApp, browser, wikis) -> None:
    _, other, _, other_dir = wikis
    name = wiki_page(other_dir, snippet("iframe", server.url))
    page = browser.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "frame-ancestors" in m.text else None)
    page.goto(f"{other}/{name}")
    page.wait_for_load_state("load")

    frame = page.frames[1]
    assert frame.locator("#rag-question").count() == 0
    assert any("frame-ancestors" in text for text in refused) and frame.url.startswith("chrome-error://")
    page.close()
