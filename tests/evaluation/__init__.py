"""Tests of rag/evaluation/: question files, metrics, reports."""
