"""Cited question answering over a folder of documents: news articles, or a wiki's pages.

The folders are the stages, in the order the layers allow imports
(`.importlinter`; docs/ARCHITECTURE.md draws them):

    models/      the embedding models and what is made from them once: embeddings, terms, word neighbours
    ingest/      the corpus read into `Document`s, chunks and sentences
    index/       builds: written, checked, published, opened (FAISS folder or Milvus)
    answer/      a question read against its conversation, retrieved, answered and cited
    pipeline.py  `RAG`, which wires the stages; `cli.py`, `serve/` and `evaluation/` stay thin over `RAG.ask`

Beneath them all, `schema.py` (the data objects stages exchange, and the errors) and `config.py` (`Settings`).
"""
