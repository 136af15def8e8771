"""The test suite. Its folders mirror rag/'s: the tests of rag/answer/ are in tests/answer/; those of the whole
program (settings, the Answer JSON across the edges, the layers, the benchmarks' helpers) stand here."""
