"""Index builds: written, checked, published and opened; read by retrieval through `ChunkStore`.

`lifecycle` (when an index is stale, full or incremental builds, opening), `files` (a build's files in
`index/`), `bm25_scores` (a saved BM25 index searched without bm25s), `chunk_store` (what answering reads of a
build, whichever store holds it), `stores/` (the same build in Milvus).
"""
