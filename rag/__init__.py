"""Cited question answering over a folder of documents: news articles, or a wiki's pages.

Stages (one module each): corpus → chunking → embedding → index → retrieval →
answering, wired by `pipeline.RAG`; `cli`, `api` and `ui` stay thin over
`RAG.ask`. See DESIGN.md for the data objects they exchange.
"""
