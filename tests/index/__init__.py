"""Tests of rag/index/: builds fresh and stale, damaged indexes, Milvus."""
