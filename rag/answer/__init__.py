"""Answering a question: read once against its conversation, retrieved, answered with citations.

In the order a question travels: `reading` (the question checked and read against the conversation: the
finished `Reading`), `asked` (the kind of fact it asks for; refusals), `attribution` (whose words a paragraph
holds), `retrieval` (dense + BM25, fused), `sentence_store` (what answerers read of the index), `answering`
(the extractive and LLM answerers), `signals`, `learned` and `learned_answerer` (the fitted answerer and its
model, `answerer_model.json`), `citations`, `contract` (the Answer JSON); `conversation` asks a question after
the earlier ones of a question file, as a chat would.
"""
