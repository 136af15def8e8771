"""Tests of rag/ingest/: the news articles, wiki pages of every format, hostile pages."""
