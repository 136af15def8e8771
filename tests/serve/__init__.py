"""Tests of rag/serve/: the API, the chat, the embed and source view, ratings, hostile clients, load."""
