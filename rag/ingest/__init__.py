"""Reading the corpus: pages of every format into `Document`s with classified paragraphs, then chunks and sentences.

`corpus` (the folder, and the news rules for `.txt`), `pages` (each format's reader: `markdown_page`,
`html_page`, over `readable`), `page_meta` (metadata's caps), `text` (clean text mapped to raw offsets, sentence
splitting), `read_cache` (what a build remembers of each page), `chunking` (chunks and sentences to index).
"""
