"""Tests of rag/answer/: reading a question, answers and their citations, follow-ups, the learned and LLM answerers."""
