"""Accessibility in headless Chromium: axe-core 4 (WCAG 2.1 AA and best practice) on the chat, the embed and
the source view, and every control worked with the keyboard alone.

axe-core comes from the npm registry (`make test` installs it into node_modules/, `make axe`); it is run
in the page by Playwright. A page is checked in the states a reader reaches: the chat and the embed when
they open (example questions shown) and after one answer with its sources, the source view of a citation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from rag.config import PROJECT_ROOT
from rag.serve.ui import EXAMPLES
from tests.servers import ANSWER_TIMEOUT_MS

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
HEADLINE = "Who opposed the Tokyo office?"


def axe_violations(page) -> list[str]:
    """What axe-core finds on `page`, one line per rule: its id, its help and the nodes it found."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing; run `make axe` (npm install axe-core@4)")
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    return [f"{v['id']} ({v['help']}): " + json.dumps([(n['target'], n['failureSummary']) for n in v['nodes']])
            for v in result["violations"]]


def test_axe_finds_nothing_on_the_source_view(server, rag, browser) -> None:
    citation = rag.ask(HEADLINE).citations[0]
    page = browser.new_page()
    page.goto(f"{server.url}{citation.url}")

    violations = axe_violations(page)
    assert violations == [], "\n".join(violations)
    page.close()


def tab_to(page, what: str, test: str, limit: int = 80) -> None:
    """Press Tab until the focused element passes `test` (JavaScript over `el`); fail naming `what` if it never does."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!el && ({test}); }})()"):
            return
    pytest.fail(f"{what} was not reached with {limit} presses of Tab")


@pytest.mark.parametrize("path", ["/", "/embed/"])
def test_the_chat_passes_axe_and_works_with_the_keyboard_alone(server, browser, path: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}{path}")
    page.locator("#rag-chat button", has_text=EXAMPLES[0]).wait_for()
    page.locator("#rag-rating-status[role=status]").wait_for(state="attached")  # the page's script has run
    before = axe_violations(page)

    # Ask: Tab to the question box, type, Enter.
    tab_to(page, "the question box", "el.closest('#rag-question') && el.tagName === 'TEXTAREA'")
    page.keyboard.type(HEADLINE)
    page.keyboard.press("Enter")
    # The answer arrives inside the chatbot's live region (role=log, aria-live=polite): screen readers read it.
    reply = page.locator("#rag-chat [role=log][aria-live=polite] .rag-reply")
    reply.wait_for(timeout=ANSWER_TIMEOUT_MS)
    assert reply.locator(".rag-sources mark").count() >= 2
    after = axe_violations(page)
    assert before + after == [], "\n".join(before + after)

    # Open a citation: Tab to its marker, Enter; the source view opens in a new tab.
    tab_to(page, "the first citation marker", "el.matches('a.rag-cite')")
    with context.expect_page() as opened:
        page.keyboard.press("Enter")
    source = opened.value
    source.wait_for_load_state()
    assert source.url.startswith(f"{server.url}/source/") and source.locator("mark").count() >= 1
    source.close()

    # Rate: Tab to "Not helpful", Enter; then a comment, Enter. Each outcome is said in a live status line.
    page.bring_to_front()
    tab_to(page, "the Not helpful button", "el.tagName === 'BUTTON' && el.textContent.trim() === 'Not helpful'")
    page.keyboard.press("Enter")
    status = page.locator("#rag-rating-status")
    expect(status).to_have_text('Answer 1 rated "Not helpful". Thank you. You may add a comment below.')
    assert status.get_attribute("role") == "status" and status.get_attribute("aria-live") == "polite"
    tab_to(page, "the comment box", "el.closest('#rag-rating-comment') && el.tagName === 'TEXTAREA'")
    page.keyboard.type("The second source is an editorial.")
    page.keyboard.press("Enter")
    expect(status).to_have_text("Comment added to your rating of answer 1. Thank you.")
    context.close()
