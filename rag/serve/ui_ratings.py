"""Rating answers in the chat: "Helpful" and "Not helpful" under each answer, an optional comment.

The two buttons are Gradio's own feedback options of the chatbot (custom
options are plain `<button>`s named by their text; chat.css shows them under
every answer instead of behind a hover-only flag). A click is Gradio's `like`
event, which names the message; the answer it rates is the Answer JSON the
chat kept when it showed that reply (`Chat.add_rated_answer`), stored with the
question and the turns before it (rag.serve.feedback). The chat stays open without
the API token, so ratings go to the store directly, not through /api/feedback.

A comment typed after the click is stored as the same rating written again
(the store keeps the last write of an id); typed before, it goes with the click.
Each outcome is said in a status line that screen readers announce (rag.serve.ui_a11y).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import gradio as gr

from rag.pipeline import RAG
from rag.schema import Turn
from rag.serve.feedback import MAX_COMMENT_CHARS, FeedbackError, FeedbackStore, Rating, RatingError

HELPFUL, NOT_HELPFUL = "Helpful", "Not helpful"
RATINGS = (HELPFUL, NOT_HELPFUL)

_log = logging.getLogger("rag.serve.ui")


@dataclass(frozen=True)
class Ratings:
    rag: RAG
    store: FeedbackStore

    def rate(self, history: Sequence[dict], turns: Sequence[Turn], answers: Sequence[dict], comment: str,
             rated: dict[int, tuple[str, bool]], event: gr.LikeData) -> tuple[str, dict, int | None]:
        """Store the verdict clicked under a reply; returns the status, each rated reply's (id, verdict), the reply."""
        if event.liked not in RATINGS:
            # A second click on the chosen button unselects it; the rating stays stored, the status says nothing new.
            return gr.skip(), rated, gr.skip()
        index = event.index if isinstance(event.index, int) else event.index[0]
        reply = sum(1 for message in history[:index] if _role(message) == "assistant")
        helpful = event.liked == HELPFUL
        rating = self._store(turns, answers, reply, helpful, comment, rated.get(reply, ("", helpful))[0])
        hint = "" if comment.strip() else " You may add a comment below."
        return (_status(f'Answer {reply + 1} rated "{event.liked}". Thank you.{hint}'),
                {**rated, reply: (rating.rating_id, helpful)}, reply)

    def comment(self, comment: str, turns: Sequence[Turn], answers: Sequence[dict],
                rated: dict[int, tuple[str, bool]], last: int | None) -> str:
        """Add `comment` to the rating given last; the status says what happened."""
        if last is None or last not in rated:
            return _status("Rate an answer first: choose Helpful or Not helpful under it, then send a comment.")
        if not comment.strip():
            return _status("Type a comment first, then send it.")
        rating_id, helpful = rated[last]
        self._store(turns, answers, last, helpful, comment, rating_id)
        return _status(f"Comment added to your rating of answer {last + 1}. Thank you.")

    def _store(self, turns: Sequence[Turn], answers: Sequence[dict], reply: int, helpful: bool, comment: str,
               rating_id: str) -> Rating:
        try:
            rating = Rating(question=turns[reply].question, answer=answers[reply], helpful=helpful,
                            history=tuple(turns[:reply]), comment=comment.strip(),
                            build_id=self.rag.manifest["build_id"], **({"rating_id": rating_id} if rating_id else {}))
        except RatingError as err:
            raise gr.Error(str(err), title="Comment too long") from None
        try:
            return self.store.add(rating)
        except FeedbackError as err:  # the folder's path is the operator's business, not the reader's
            _log.error("a rating from the chat was not stored: %s", err)
            raise gr.Error("Your rating could not be stored right now; please try again later.",
                           title="Rating not stored") from None


def add_ratings(rag: RAG, chatbot: gr.Chatbot, turns: gr.State, answers: gr.State) -> None:
    """Under the chat (inside its `gr.Blocks`): the comment box and the status, wired to the chatbot's buttons.

    The status is made a live region by rag.serve.ui_a11y."""
    ratings = Ratings(rag, FeedbackStore(rag.settings.feedback_dir))
    comment = gr.Textbox(label="Comment on your rating (optional)", elem_id="rag-rating-comment", lines=1,
                         max_length=MAX_COMMENT_CHARS, submit_btn="Send comment",
                         placeholder="What was wrong, or right, with the answer?")
    status = gr.HTML("", elem_id="rag-rating-status", padding=False)
    rated = gr.State({})  # reply number -> (the id its rating is stored under, helpful)
    last = gr.State(None)  # the reply rated last: where a comment goes
    # One click is two `like` events (Gradio's feedback button reports its choice twice); one at a time, the
    # second finds the first's rating in `rated` and writes it again under its id instead of adding another.
    chatbot.like(ratings.rate, [chatbot, turns, answers, comment, rated], [status, rated, last],
                 api_visibility="private", show_progress="hidden", concurrency_limit=1)
    comment.submit(ratings.comment, [comment, turns, answers, rated, last], [status], api_visibility="private",
                   show_progress="hidden")
    # Cleared, the replies and their ratings go with the conversation.
    chatbot.clear(lambda: ([], {}, None, ""), None, [answers, rated, last, status], api_visibility="private",
                  show_progress="hidden")


def _role(message: object) -> str:
    return message["role"] if isinstance(message, dict) else getattr(message, "role", "")


def _status(text: str) -> str:
    return f'<p class="rag-rating-status">{escape(text)}</p>'
