"""The embedding models, and what is made from them once: the lowest stage, used by index and answer alike.

`packaged` (the models packages ship), `embedding` (sentence-transformers, the reference), `onnx_embedding`
(ONNX Runtime, the query path), `onnx_record` and `onnx_export` (an export found and checked; made), `terms`
(words to stemmed terms), `vocabulary` (the articles' words and their neighbours), `thesaurus` (neighbours
for readers' words no article uses). `python -m rag.models install` (`__main__`) makes what `make install`
makes.
"""
