"""The Gradio chat: questions in, cited answers out, thin over `RAG.ask`.

`Chat.respond(message, history)` is the whole chat logic as one plain
function (the browser is not needed to test it); `build_chat` lays it out in
`gr.Blocks` for the full page (`/`) and the compact iframe page (`/embed`).

Why a hand-built Blocks and not `ChatInterface`: the chatbot renders message
HTML (`render_markdown=False`), because answers carry links and `<mark>`s.
`ChatInterface` puts the user's typed text into the chatbot as-is, so a
question holding `<img src=http://…>` would load it. Here every message is
built by this module, and every string in it that comes from an article or a
question is `html.escape`d first: nothing a document or a question smuggles in
becomes markup. (Gradio's sanitiser still runs after us; it also turns every
link into `target="_blank"`, so citations open the source view in a new tab.)

The conversation is kept as data beside the chat: a `gr.State` holding one
`Turn(question, answer text)` per answered question, exactly as typed and as
answered. The chatbot's messages are only what is shown; nothing is read back
out of their HTML.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

import gradio as gr

from rag.answer.citations import source_url
from rag.answer.contract import answer_to_dict
from rag.answer.conversation import MAX_TURNS
from rag.pipeline import RAG
from rag.schema import Answer, Document, Paragraph, QuestionError, StoreUnavailableError, Turn
from rag.serve.source_view import meta_line, paragraph_html
from rag.serve.ui_a11y import mend_markup
from rag.serve.ui_ratings import RATINGS, add_ratings

# Offered in the empty chat over the shipped articles; another corpus's chat offers none (they would be about NATO).
EXAMPLES = (
    "Who opposed NATO's office in Tokyo?",
    "What did China say about the office?",
    "Where would NATO open its first office in Asia?",
    "How many people live in Tokyo?",
)
CLOSEST_SHOWN = 3  # passages a refusal offers instead of an answer
SNIPPET_CHARS = 320
# Answering takes well under a second of CPU; a few at once keep the queue
# moving without letting one burst of users starve the server.
CONCURRENCY = 4
_MARKER = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Chat:
    """The chat's behaviour over one `RAG`; `link_prefix` starts every source-view link."""

    rag: RAG

    @property
    def link_prefix(self) -> str:
        # The same prefix the pipeline gives citation URLs, so every link agrees.
        return self.rag.settings.public_url or self.rag.settings.root_path

    @property
    def noun(self) -> str:
        """What the corpus's documents are called (RAG_DOCUMENTS_NOUN): "articles", "pages"."""
        return self.rag.settings.documents_noun

    def respond(self, message: str, turns: Sequence[Turn]) -> str:
        """The answer to `message`, asked after the conversation `turns`, as chat HTML."""
        return render_answer(self._answer(message, turns), self.rag.documents, self.link_prefix)

    def ask(self, question: str) -> dict:
        """Answer a question about the corpus; returns the Answer JSON (answer, citations, passages)."""
        try:
            return answer_to_dict(self.rag.ask(question))
        except QuestionError as err:
            # The asker's to fix, and told them; Gradio would also print its traceback to the log (28 lines).
            raise gr.Error(str(err), print_exception=False) from None
        except StoreUnavailableError as err:
            raise gr.Error(f"The {self.noun} cannot be searched right now ({err}); try again in a moment.") from None

    def add_question(self, message: str, history: list[dict]) -> tuple[str, list[dict], str]:
        """Show the question at once (escaped) and keep it for `add_answer`; clears the textbox."""
        if not message or not message.strip():
            raise gr.Error(f"Type a question about the {self.noun} first.", title="Empty question",
                           print_exception=False)
        return "", [*history, user_message(message)], message

    def add_answer(self, question: str, history: list[dict], turns: list[Turn]) -> tuple[list[dict], list[Turn]]:
        """Show the answer to `question` (asked after `turns`) and add the exchange to the conversation."""
        history, turns, _ = self.add_rated_answer(question, history, turns, [])
        return history, turns

    def add_rated_answer(self, question: str, history: list[dict], turns: list[Turn],
                         answers: list[dict]) -> tuple[list[dict], list[Turn], list[dict]]:
        """`add_answer`, also keeping each reply's Answer JSON: what a rating of the reply stores (`ui_ratings`)."""
        answer = self._answer(question, turns)
        html = render_answer(answer, self.rag.documents, self.link_prefix)
        # The last MAX_TURNS exchanges, as the API takes: a tab left open all day would otherwise keep (and post,
        # and read against) a history that only grows. Whole exchanges go, so a reply's rating finds its answer.
        shown = [*history, {"role": "assistant", "content": html}][-2 * MAX_TURNS:]
        return (shown, [*turns, Turn(question, answer.text)][-MAX_TURNS:],
                [*answers, answer_to_dict(answer)][-MAX_TURNS:])

    @staticmethod
    def forget() -> list[Turn]:
        """The conversation after the chat is cleared: nothing for a follow-up to lean on."""
        return []

    def pick_example(self, history: list[dict], event: gr.SelectData) -> tuple[str, list[dict], str]:
        return self.add_question(str(event.value.get("text", "")), history)

    def _answer(self, question: str, turns: Sequence[Turn]) -> Answer:
        try:
            return self.rag.ask(question, tuple(turns))
        except QuestionError as err:
            raise gr.Error(str(err), title="Question not accepted", print_exception=False) from None
        except StoreUnavailableError as err:  # a shared store (Milvus) lost: the chat says so, and recovers with it
            raise gr.Error(f"The {self.noun} cannot be searched right now ({err}); try again in a moment.",
                           title="Index store unavailable") from None


def user_message(question: str) -> dict:
    return {"role": "user", "content": escape(question)}


def render_answer(answer: Answer, documents: Mapping[str, Document], link_prefix: str = "") -> str:
    """Chat HTML: the answer with `[n]` links, then the sources (or, for a refusal, the closest passages)."""
    urls = {c.n: c.url for c in answer.citations}

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n not in urls:
            return match.group(0)
        return f'<a class="rag-cite" href="{escape(urls[n])}" title="open source {n}">[{n}]</a>'

    text = _MARKER.sub(link, escape(answer.text))
    kind = "rag-reply rag-refused" if answer.refused else "rag-reply"
    parts = [f'<div class="{kind}"><div class="rag-answer">{text}</div>']
    if answer.citations:
        items = "".join(_citation_item(c.n, c.url, documents[c.doc_id], c.paragraph, c.start, c.end)
                        for c in answer.citations)
        parts.append(f'<div class="rag-sources"><p class="rag-sources-title">Sources</p><ol>{items}</ol></div>')
    elif answer.passages:
        items = "".join(_passage_item(p.chunk.doc_id, p.chunk.paragraph, p.chunk.start, p.chunk.end, documents,
                                      link_prefix) for p in answer.passages[:CLOSEST_SHOWN])
        parts.append(f'<div class="rag-sources rag-closest"><p class="rag-sources-title">Closest passages</p>'
                     f"<ul>{items}</ul></div>")
    parts.append("</div>")
    return "".join(parts)


def _citation_item(n: int, url: str, document: Document, paragraph_n: int, start: int, end: int) -> str:
    paragraph = _paragraph(document, paragraph_n)
    quote = paragraph_html(document, paragraph, start, end) if paragraph else ""
    return (f'<li class="rag-source"><a class="rag-source-link" href="{escape(url)}">[{n}] '
            f"{escape(document.title)}</a>"
            f'<span class="rag-meta">{meta_line(document, f"paragraph {paragraph_n}")}</span>'
            f'<blockquote class="rag-paragraph">{quote}</blockquote></li>')


def _passage_item(doc_id: str, paragraph_n: int, start: int, end: int, documents: Mapping[str, Document],
                  link_prefix: str) -> str:
    document = documents[doc_id]
    paragraph = _paragraph(document, paragraph_n)
    url = source_url(doc_id, paragraph_n, start, end, link_prefix)
    snippet = paragraph.clean if paragraph else ""
    if len(snippet) > SNIPPET_CHARS:
        snippet = snippet[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " …"
    return (f'<li class="rag-source"><a class="rag-source-link" href="{escape(url)}">{escape(document.title)}</a>'
            f'<span class="rag-meta">{meta_line(document, f"paragraph {paragraph_n}")}</span>'
            f'<blockquote class="rag-paragraph">{escape(snippet)}</blockquote></li>')


def _paragraph(document: Document, n: int) -> Paragraph | None:
    return next((p for p in document.body if p.n == n), None)


def corpus_line(documents: Mapping[str, Document], link_prefix: str = "", noun: str = "articles") -> str:
    """One line of HTML naming the documents answers come from (`noun`: what they are called), each linked to its
    source view."""
    items = "; ".join(
        f'<a href="{escape(source_url(d.doc_id, 0, prefix=link_prefix))}">{escape(d.title)}</a>'
        + (f" ({meta_line(d)})" if meta_line(d) else "")
        for d in documents.values()
    )
    # One line that starts with <div>: Markdown passes it through as an HTML
    # block, so no Markdown syntax inside a title is ever interpreted.
    return f'<div class="rag-corpus">Answers come only from these {len(documents)} {escape(noun)}: {items}.</div>'


def theme() -> gr.themes.Base:
    """Gradio's default look, with font faces that have every letter.

    Gradio ships Source Sans Pro and IBM Plex Mono SemiBold (weight 600) as subsets of a few glyphs, and its
    default theme uses them for every semibold text: headings, links, the "SOURCES" label. There a capital "A"
    came from the subset smaller than the letters around it ("Ask", "NATO"). Declared with their complete Bold
    faces instead, semibold text is set in those (a browser takes the nearest heavier face).
    """
    fonts = gr.themes.utils.fonts
    return gr.themes.Default(
        font=(fonts.LocalFont("Source Sans Pro", weights=(400, 700)), "ui-sans-serif", "system-ui", "sans-serif"),
        font_mono=(fonts.LocalFont("IBM Plex Mono", weights=(400, 700)), "ui-monospace", "Consolas", "monospace"))


def chat_title(noun: str) -> str:
    """The chat's title, its page's and its frame's: "Ask the articles", "Ask the pages"."""
    return f"Ask the {noun}"


def build_chat(rag: RAG, embed: bool = False) -> gr.Blocks:
    """The chat page; `embed` makes the compact one for iframes (no header, no footer)."""
    chat = Chat(rag)
    settings = rag.settings
    title = chat_title(settings.documents_noun)
    with gr.Blocks(title=title, analytics_enabled=False, fill_height=True) as blocks:
        if not embed:
            gr.Markdown(f"# {title}", elem_classes="rag-title")
            gr.Markdown(corpus_line(rag.documents, chat.link_prefix, chat.noun), elem_classes="rag-header")
        else:  # a page's heading, for screen readers; the frame has no room (nor need) to show one
            gr.HTML(f'<h1 class="rag-sr-only">{escape(title)}</h1>', padding=False, container=False)
        chatbot = gr.Chatbot(
            show_label=False,
            elem_id="rag-chat",
            render_markdown=False,  # messages are HTML built (and escaped) by render_answer
            latex_delimiters=[],  # a "$" in an article is a dollar, not LaTeX
            sanitize_html=True,
            feedback_options=RATINGS,  # "Helpful", "Not helpful" under each answer (rag.serve.ui_ratings)
            buttons=[],
            examples=[{"text": q} for q in EXAMPLES] if settings.shipped_corpus else None,
            placeholder=f"Ask a question about the {chat.noun}. Answers cite the sentences they come from.",
            height=None if embed else 620,
            scale=1,
        )
        textbox = gr.Textbox(
            show_label=False,
            elem_id="rag-question",
            placeholder=f"Ask about the {chat.noun}…",
            max_length=settings.max_question_chars,  # a hint in the browser; rag.ask enforces it
            submit_btn="Ask",
            autofocus=not embed,
        )
        question = gr.State("")
        turns = gr.State([])  # the conversation: a Turn per answered question, what follow-ups are read against
        answers = gr.State([])  # the Answer JSON of each reply, for its rating
        for trigger, fn, inputs in ((textbox.submit, chat.add_question, [textbox, chatbot]),
                                    (chatbot.example_select, chat.pick_example, [chatbot])):
            trigger(fn, inputs, [textbox, chatbot, question], api_visibility="private",
                    show_progress="hidden").success(
                chat.add_rated_answer, [question, chatbot, turns, answers], [chatbot, turns, answers],
                api_name="add_answer", api_visibility="private", show_progress="minimal")
        # The chatbot's clear button empties what is shown; the conversation goes with it.
        chatbot.clear(chat.forget, None, [turns], api_visibility="private", show_progress="hidden")
        add_ratings(rag, chatbot, turns, answers)
        mend_markup(blocks)
        if not embed:
            gr.api(chat.ask, api_name="ask")
    blocks.queue(max_size=settings.queue_size, api_open=False, default_concurrency_limit=CONCURRENCY)
    return blocks
