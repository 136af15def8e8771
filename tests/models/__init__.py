"""Tests of rag/models/: the packaged models, both encoders, the ONNX export and the thesaurus."""
