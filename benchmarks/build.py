"""Row "index build": `ensure_index(force=True)` against the model embedding the same texts.

The issue's floor is encoding the chunk texts alone. The project also embeds
every sentence at build time (so that answering costs one query embedding),
which that floor does not pay for, so each corpus gets two rows: against the
chunks alone (the issue's floor) and against everything the build embeds
(chunks + sentences). The figures also give the time of the unique texts:
a one-sentence paragraph is a chunk and a sentence with the same text, and
embedding it once would bring the build down to that.
"""

from __future__ import annotations

import contextlib
import io
from collections import Counter

from benchmarks.context import Context, encode_documents
from benchmarks.measure import seconds
from benchmarks.report import Row, Target, judged
from benchmarks.synthetic import write_corpus
from rag.config import Settings
from rag.ingest.chunking import chunk_documents, split_documents_into_sentences
from rag.ingest.corpus import load_corpus
from rag.pipeline import ensure_index

TARGET = Target("<=", 1.25)


def run(ctx: Context) -> list[Row]:
    rows = _rows(ctx, ctx.settings.replace(index_dir=ctx.work / "build-index"), "5 articles", ctx.sizes.build_repeats)
    generated = ctx.work / "generated-corpus"
    write_corpus(ctx.settings.corpus_dir, generated, ctx.sizes.generated_chunks)
    settings = ctx.settings.replace(corpus_dir=generated, index_dir=ctx.work / "generated-index")
    return rows + _rows(ctx, settings, "generated", 1)


def _rows(ctx: Context, settings: Settings, label: str, repeats: int) -> list[Row]:
    documents, _ = load_corpus(settings.corpus_dir)
    chunks = [c.clean for c in chunk_documents(documents, settings.chunk_size, settings.chunk_overlap)]
    sentences = [s.clean for s in split_documents_into_sentences(documents)]
    repeated = sum(s in set(chunks) for s in sentences)
    unique = list(dict.fromkeys(chunks + sentences))
    # When the sentences are exactly the chunk texts (the generated corpus),
    # everything embedded is the chunks twice and the distinct texts are the
    # chunks: both floors follow from the chunks' without embedding again.
    same_texts = Counter(sentences) == Counter(chunks)
    builds, floor_chunks, floor_all, floor_unique = [], [], [], []
    batch = settings.embed_batch_size
    for _ in range(repeats):
        with contextlib.redirect_stderr(io.StringIO()):  # the build's progress bar
            builds.append(seconds(lambda: ensure_index(settings, ctx.embedder, force=True)))
        floor_chunks.append(seconds(lambda: encode_documents(ctx.model, chunks, batch)))
        if same_texts:
            floor_all.append(2 * floor_chunks[-1])
            floor_unique.append(floor_chunks[-1] * len(unique) / len(chunks))
        else:
            floor_all.append(seconds(lambda: encode_documents(ctx.model, chunks + sentences, batch)))
            floor_unique.append(seconds(lambda: encode_documents(ctx.model, unique, batch)))
    # The least of the repeats: noise from elsewhere only ever adds time.
    build, chunk_s, all_s, unique_s = map(min, (builds, floor_chunks, floor_all, floor_unique))
    figures = {"documents": len(documents), "chunks": len(chunks), "sentences": len(sentences),
               "sentences_equal_to_a_chunk": repeated, "distinct_texts": len(unique), "repeats": repeats,
               "build_s": round(build, 3), "encode_chunks_s": round(chunk_s, 3),
               "encode_chunks_and_sentences_s": round(all_s, 3), "encode_distinct_texts_s": round(unique_s, 3),
               "floors_derived_from_chunks": same_texts}
    measured = f"build {build:.2f} s ({len(chunks):,} chunks)"
    derived = " (the sentences are the chunk texts: 2x the chunks' time)" if same_texts else ""
    return [
        judged(f"index build, {label} / chunks", measured, f"encode {len(chunks):,} chunks {chunk_s:.2f} s",
               build / chunk_s, TARGET, figures,
               note=f"the issue's floor; the build also embeds {len(sentences):,} sentences "
                    f"({repeated:,} identical to a chunk), which this floor leaves out"),
        judged(f"index build, {label} / all it embeds", measured,
               f"encode {len(chunks):,} chunks + {len(sentences):,} sentences {all_s:.2f} s",
               build / all_s, TARGET, figures,
               note=f"embedding each of the {len(unique):,} distinct texts once would cost {unique_s:.2f} s "
                    f"({unique_s / chunk_s:.2f}x the chunks-only floor){derived}"),
    ]
