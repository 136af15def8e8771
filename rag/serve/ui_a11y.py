"""Gradio's markup mended for screen readers, in the browser, once the chat page is built.

Two things axe-core finds or a screen reader misses, that no Gradio option
changes: the chatbot's example questions are buttons inside a `role="list"`
box (which may hold only list items), and a status line Gradio renders as
plain HTML is no live region. The example box comes back whenever the chat is
cleared, so a `MutationObserver` mends it each time it appears.
"""

from __future__ import annotations

import gradio as gr

_MEND_JS = """() => {
  const status = document.getElementById('rag-rating-status');
  if (status) { status.setAttribute('role', 'status'); status.setAttribute('aria-live', 'polite'); }
  const chat = document.getElementById('rag-chat');
  const mend = () => chat && chat.querySelectorAll('.examples[role=list]').forEach((box) => {
    box.setAttribute('role', 'group');
    box.setAttribute('aria-label', 'Example questions');
  });
  mend();
  if (chat) { new MutationObserver(mend).observe(chat, {childList: true, subtree: true}); }
}"""


def mend_markup(blocks: gr.Blocks) -> None:
    """Run the mending script when `blocks` loads in a browser."""
    blocks.load(None, None, None, js=_MEND_JS)
