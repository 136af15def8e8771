"""Stores an index can live in besides the FAISS folder: Milvus (`milvus_link`, `milvus_publish`, `milvus_store`)."""
