"""A generated wiki export: Markdown and HTML pages in nested folders, made of real sentences.

Pages alternate between Markdown (front matter, a heading, paragraphs, a
link, emphasis) and HTML (title, navigation and footer chrome, entities);
their paragraphs are one generated sentence each (`benchmarks.synthetic`),
so that a page costs little to embed and the rows weigh the build's other
work (reading, parsing, splitting, BM25, files) as much as possible.
`edit_pages` rewrites one paragraph of each chosen page and leaves the rest
of the page as it was, as a wiki edit does.
"""

from __future__ import annotations

import random
from html import escape
from pathlib import Path

from benchmarks.synthetic import _sentence, _sentence_pieces

SECTIONS = 20
TOPICS = 10


def page_path(root: Path, page: int) -> Path:
    suffix = ".md" if page % 2 == 0 else ".html"
    return root / f"section-{page % SECTIONS:02d}" / f"topic-{page // SECTIONS % TOPICS}" / f"page-{page:06d}{suffix}"


def write_wiki(source_dir: Path, target_dir: Path, pages: int, paragraphs: int, seed: int = 0) -> list[Path]:
    """`pages` pages of `paragraphs` one-sentence paragraphs each; returns their paths."""
    pieces = _sentence_pieces(source_dir)
    rng = random.Random(seed)
    paths = []
    for page in range(pages):
        path = page_path(target_dir, page)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(path, page, [_sentence(pieces, rng) for _ in range(paragraphs)])
        paths.append(path)
    return paths


def edit_pages(source_dir: Path, paths: list[Path], seed: int) -> None:
    """Replace the first paragraph of each page with a new sentence; the other paragraphs stay."""
    pieces = _sentence_pieces(source_dir)
    rng = random.Random(seed)
    for path in paths:
        page = int(path.stem.split("-")[1])
        paragraphs = _paragraphs(path)
        paragraphs[0] = _sentence(pieces, rng)
        _write(path, page, paragraphs)


def _write(path: Path, page: int, paragraphs: list[str]) -> None:
    title = f"Generated page {page}"
    if path.suffix == ".md":
        body = "\n\n".join(paragraphs)
        text = f"---\ntitle: {title}\ndate: 2024-01-{page % 28 + 1:02d}\n---\n\n# {title}\n\n{body}\n"
    else:
        body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
        text = (f"<!doctype html><html><head><title>{title} &mdash; wiki</title></head><body>"
                f'<nav><a href="/">Home</a> &rsaquo; <a href="/s">Section</a></nav><main><h1>{title}</h1>\n'
                f"{body}\n</main><footer>&copy; Example wiki</footer></body></html>\n")
    path.write_text(text, encoding="utf-8")


def _paragraphs(path: Path) -> list[str]:
    from html import unescape

    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        return [p.strip() for p in text.split("\n\n")[2:]]  # after the front matter and the heading
    return [unescape(line[3:-4]) for line in text.splitlines() if line.startswith("<p>")]
