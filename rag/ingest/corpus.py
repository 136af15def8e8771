"""Reading `corpus/` into `Document`s with classified `Paragraph`s.

Pages are `.txt`, `.md` or `.html` files in the folder and its subfolders;
Markdown and HTML are read by `rag.ingest.pages`. What follows are the rules for
`.txt` news articles.

Scraped news is messy; each rule below answers a pattern seen in real files:

* Paragraphs are separated by blank lines, or in some files by single
  newlines: every non-blank line is a paragraph unless it is a hard-wrapped
  continuation (no closing punctuation, next line in lower case).
* Boilerplate, kept in the document for faithful offsets but out of the index:
  bylines repeated at page breaks ("Written by X on June 12, 2023"), photo
  credits ("Getty Images", "© ... /Pool Photo"), caption bullet groups that
  carry a credit, stand-alone date lines, and a subscription block from its
  "Subscribe ..." line to the end of the file.
* A body paragraph that stops mid-sentence and resumes in lower case after
  boilerplate (a page break) is one paragraph again; its `text` is the raw
  span (byline included, so offsets stay exact) and `clean` skips the byline.
* Short lines without closing punctuation are headings; the first heading is
  the title (the headline when it comes before the body, else the first
  section heading). Without one, the title is the opening words of the first
  sentence, cut at a word boundary.
* The source (publication) is taken from a subscription block that names it
  ("Subscribe to the New American"); nothing else is guessed.
* Dates come from a byline, a date line ("May 22, 2023") or a "date
  2023-05-25" marker; an optional `<doc_id>.json` beside the article
  (`title`, `date`, `source`, `url`) overrides what was inferred.

Files are decoded as UTF-8 exactly as stored (a BOM stays as U+FEFF, CRLF
stays), so `raw[start:end] == text` holds against `path.read_bytes().decode()`.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.ingest.page_meta import check_text_fields, metadata_problem
from rag.ingest.pages import FORMATS, opening_words, page_format, read_page
from rag.ingest.read_cache import from_record, page_digest
from rag.ingest.text import clean_text
from rag.schema import CorpusError, Document, Paragraph, ParagraphKind

MAX_FILE_BYTES = 20 * 1024 * 1024

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_LONG_DATE = re.compile(rf"\b({_MONTHS})\s+(\d{{1,2}}),\s+(\d{{4}})\b")
_DATE_LINE = re.compile(rf"^\s*(?:{_MONTHS})\s+\d{{1,2}},\s+\d{{4}}\s*$")
_ISO_DATE_MARKER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\s+")
_BYLINE = re.compile(r"^\s*(?:Written\s+)?by\s+.{2,80}?\s+on\s+\S.*\d{4}\s*$", re.IGNORECASE)
_CREDIT = re.compile(
    r"©|\bGetty\s*Images\b|\biStock\b|\bShutterstock\b|/Pool Photo|\bPhoto(?:graph)?:|"
    r"^\s*(?:AP|AFP|Reuters|EPA|Xinhua|Gettyimages\.\w+)\s*$",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^\s*[•·▪]\s+")
# "Subscribe to the New American": a subscription block names the publication.
_PUBLICATION = re.compile(r"^\s*Subscribe\s+to\s+((?:the\s+)?[A-Z][\w&'’. -]{1,60}?)\s*$")
_AD_START = re.compile(r"^\s*(?:Subscribe\s+to\b|Sign\s+up\s+for\b|Become\s+a\s+(?:subscriber|member)\b)", re.IGNORECASE)
_CLOSING = tuple(".!?:;\"”’)…")


@dataclass(frozen=True)
class Skipped:
    """A file `load_corpus` did not read, and why (printed by `index`)."""

    path: str
    reason: str


@dataclass(frozen=True)
class _Block:
    start: int
    end: int
    clean: str
    kind: ParagraphKind


def load_corpus(corpus_dir: Path, known: Mapping[str, dict[str, Any]] | None = None,
                ) -> tuple[list[Document], list[Skipped]]:
    """Every readable page of `corpus_dir` and its subfolders, sorted by id, and the files skipped.

    A page's id is its path below `corpus_dir` without the extension (`team/handbook/onboarding`);
    two files with one id (`a.md` and `a.html`) are an error naming both. `known` holds what an earlier
    read of the same reader made of each page (`rag.ingest.read_cache`): a page whose file is unchanged is
    taken from it instead of being parsed again.
    """
    read = read_pages(corpus_dir, known)
    return read.documents, read.skipped


@dataclass(frozen=True)
class CorpusRead:
    """`load_corpus`'s result, with each page's digest (`rag.ingest.read_cache.page_digest`) for the build to store."""

    documents: list[Document]
    skipped: list[Skipped]
    digests: dict[str, str]


def read_pages(corpus_dir: Path, known: Mapping[str, dict[str, Any]] | None = None,
               on_parsed: Callable[[Document], None] = lambda document: None) -> CorpusRead:
    """`load_corpus`, keeping the digests it computed: a wiki's build would otherwise hash every page twice.

    `on_parsed` is called with each page that was parsed (not taken from `known`) while its parse is still
    cached (`rag.ingest.pages`), so a build splits it without parsing it a second time.
    """
    _check_folder(corpus_dir)
    root = corpus_dir.resolve()
    paths = _page_paths(corpus_dir)
    _check_unique_ids(paths)
    documents: list[Document] = []
    skipped: list[Skipped] = []
    digests: dict[str, str] = {}
    seen_content: dict[str, str] = {}
    known = known or {}
    for doc_id, [page] in sorted(paths.items()):
        path = Path(page.path)
        data, reason = _file_bytes(path, root)
        if reason:
            skipped.append(Skipped(str(path), reason))
            continue
        if b"\x00" in data:
            skipped.append(Skipped(str(path), "contains NUL bytes: a binary file, not a page"))
            continue
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError as err:
            skipped.append(Skipped(str(path), f"not UTF-8 (byte {err.start} is {data[err.start]:#04x}); "
                                              f"convert it, e.g. iconv -f latin1 -t utf-8"))
            continue
        if raw in seen_content:
            skipped.append(Skipped(str(path), f"same content as {seen_content[raw]}"))
            continue
        digest = page_digest(data, _sidecar_bytes(path) if page.has_sidecar else None)
        record = known.get(doc_id)
        try:
            parsed = record is None or record.get("digest") != digest
            document = _read(path, doc_id, raw) if parsed else from_record(record, str(path), raw)
        except CorpusError as err:
            skipped.append(Skipped(str(path), str(err)))
            continue
        except Exception as err:  # noqa: BLE001 - one page a parser chokes on must not stop a wiki's build
            skipped.append(Skipped(str(path), f"could not be read as {page_format(path)} "
                                              f"({type(err).__name__}: {err}); fix the page or remove it"))
            continue
        if not document.body:
            skipped.append(Skipped(str(path), "no body text"))
            continue
        problem = metadata_problem(document)
        if problem:
            skipped.append(Skipped(str(path), problem))
            continue
        seen_content[raw] = page.relative
        documents.append(document)
        digests[doc_id] = digest
        if parsed:
            on_parsed(document)
    return CorpusRead(documents, skipped, digests)


def document_digest(document: Document) -> str:
    """The digest `load_corpus` compares with a `known` record (a UTF-8 file re-encodes to its own bytes)."""
    return page_digest(document.raw.encode("utf-8"), _sidecar_bytes(Path(document.path)))


def _sidecar_bytes(path: Path) -> bytes | None:
    try:
        return path.with_suffix(".json").read_bytes()
    except OSError:
        return None


def has_page_files(corpus_dir: Path) -> bool:
    """Whether `corpus_dir` holds any file that may be a page: a look that stops at the first, before the
    model loads."""
    _check_folder(corpus_dir)
    return next(_page_files(corpus_dir), None) is not None


def _check_folder(corpus_dir: Path) -> None:
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist; give --corpus (or RAG_CORPUS_DIR) the folder "
                          "of your .txt, .md and .html pages, or create it and put them there")


@dataclass(frozen=True)
class _PageFile:
    doc_id: str
    relative: str  # the path below the corpus folder, as messages name it
    path: str
    has_sidecar: bool  # a `<name>.json` beside it


def _page_paths(corpus_dir: Path) -> dict[str, list[_PageFile]]:
    """Page files by id."""
    found: dict[str, list[_PageFile]] = {}
    for page in _page_files(corpus_dir):
        found.setdefault(page.doc_id, []).append(page)
    return found


def _page_files(corpus_dir: Path) -> Iterator[_PageFile]:
    """Hidden files and folders (`.git`) and files of other types are not pages.

    Ids and sidecars are worked out from the walk's own names, with string operations: on a 100,000-page
    wiki, a path object and a stat per file were a good part of an update's time.
    """
    top = str(corpus_dir)
    for folder, subfolders, files in os.walk(top):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        below = os.path.relpath(folder, top)
        prefix = "" if below == os.curdir else below.replace(os.sep, "/") + "/"
        names = set(files)
        for name in sorted(files):
            stem, suffix = os.path.splitext(name)
            if not name.startswith(".") and suffix.lower() in FORMATS:
                yield _PageFile(prefix + stem, prefix + name, os.path.join(folder, name), stem + ".json" in names)


def _check_unique_ids(paths: dict[str, list[_PageFile]]) -> None:
    clashes = [(doc_id, pages) for doc_id, pages in paths.items() if len(pages) > 1]
    if clashes:
        doc_id, pages = clashes[0]
        more = f" ({len(clashes) - 1} more ids clash)" if len(clashes) > 1 else ""
        raise CorpusError(f"{' and '.join(page.path for page in pages)} both have the document id {doc_id!r}"
                          f"{more}; rename or remove one of them")


def _read(path: Path, doc_id: str, raw: str) -> Document:
    if page_format(path) == "text":
        return read_document(path, raw, doc_id)
    return read_page(path, doc_id, raw, _sidecar(path))


def _file_bytes(path: Path, root: Path) -> tuple[bytes, str]:
    """The file's bytes, or why it is not read.

    One open, then `fstat` and read on what was opened: a file removed or replaced after the walk listed it
    is either read whole or skipped as gone, never found by one call and missing for the next.
    """
    if os.path.islink(path):
        try:
            target = path.resolve()
        except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError for a loop
            return b"", _LOOP
        if not target.is_relative_to(root):
            return b"", "a symlink to a file outside the corpus folder"
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer that never comes.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return b"", "a symlink to a missing file" if os.path.islink(path) else "removed while the corpus was read"
    except OSError as err:
        return b"", _LOOP if err.errno == errno.ELOOP else f"cannot be opened ({err.strerror}); check its permissions"
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(descriptor)  # one stat a page: a wiki has 100,000 of them
        if not stat.S_ISREG(status.st_mode):
            return b"", "not a regular file"
        if status.st_size == 0:
            return b"", "empty file"
        if status.st_size > MAX_FILE_BYTES:
            return b"", f"{status.st_size} bytes is over the {MAX_FILE_BYTES}-byte limit for one article; split it"
        try:
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as err:
            return b"", f"cannot be read ({err.strerror})"
    if len(data) > MAX_FILE_BYTES:  # it grew after the stat
        return b"", f"over the {MAX_FILE_BYTES}-byte limit for one article; split it"
    return data, ""


_LOOP = "a symlink loop (it leads back to itself, never to a file); remove it"


def read_document(path: Path, raw: str, doc_id: str = "") -> Document:
    """One article: paragraphs classified, title, date and source inferred or from `<id>.json`."""
    doc_id = doc_id or path.stem
    blocks, date = _classify(raw, _blocks(raw))
    named = next((m.group(1) for b in blocks if b.kind == "boilerplate" and (m := _PUBLICATION.match(b.clean))), "")
    paragraphs = _paragraphs(doc_id, raw, _rejoin_page_breaks(raw, blocks))
    title = _title(paragraphs)
    meta = _sidecar(path)
    return Document(
        doc_id=doc_id,
        path=str(path),
        title=str(meta.get("title") or title),
        date=str(meta.get("date") or date),
        source=str(meta.get("source") or named[:1].upper() + named[1:]),
        raw=raw,
        paragraphs=tuple(paragraphs),
        url=str(meta.get("url") or ""),
    )


def _sidecar(path: Path) -> dict[str, object]:
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        return {}
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorpusError(f"{meta_path} is not valid UTF-8 JSON ({err}); fix or remove it") from None
    if not isinstance(meta, dict):
        raise CorpusError(f"{meta_path} must hold a JSON object with title, date, source, url")
    check_text_fields(meta, meta_path.name)
    return meta


def _blocks(raw: str) -> list[tuple[int, int]]:
    """Raw spans of candidate paragraphs: non-blank lines, hard-wrapped lines rejoined."""
    lines: list[tuple[int, int]] = []
    for match in re.finditer(r"[^\r\n]+", raw):
        start, end = match.span()
        line = raw[start:end]
        if not line.strip():
            continue
        start += len(line) - len(line.lstrip())
        end -= len(line) - len(line.rstrip())
        lines.append((start, end))
    blocks: list[tuple[int, int]] = []
    for start, end in lines:
        if blocks and _is_wrapped(raw, blocks[-1], start):
            blocks[-1] = (blocks[-1][0], end)
        else:
            blocks.append((start, end))
    return blocks


def _is_wrapped(raw: str, previous: tuple[int, int], next_start: int) -> bool:
    # Only lines within one blank-line-free run can be a hard wrap.
    gap = raw[previous[1]:next_start]
    return gap.count("\n") == 1 and not raw[previous[0]:previous[1]].rstrip().endswith(_CLOSING) \
        and raw[next_start].islower() and not _BULLET.match(raw[previous[0]:previous[1]])


def _classify(raw: str, spans: list[tuple[int, int]]) -> tuple[list[_Block], str]:
    """Each span as body, heading or boilerplate, and the date the article states."""
    blocks: list[_Block] = []
    date = ""
    in_ad = False
    for index, (start, end) in enumerate(spans):
        line = raw[start:end]
        iso = _ISO_DATE_MARKER.match(line)
        if iso:
            date = date or iso.group(1)
            start += iso.end()
            line = raw[start:end]
        clean = clean_text(raw, ((start, end),)).text
        in_ad = in_ad or bool(_AD_START.match(clean))
        kind: ParagraphKind
        if in_ad or _BYLINE.match(clean) or _DATE_LINE.match(clean) or _is_credit(raw, spans, index):
            kind = "boilerplate"
            date = date or _long_date(clean) if (_BYLINE.match(clean) or _DATE_LINE.match(clean)) else date
        elif _looks_like_heading(clean):
            kind = "heading"
        else:
            kind = "body"
        blocks.append(_Block(start, end, clean, kind))
    return blocks, date


def _long_date(text: str) -> str:
    match = _LONG_DATE.search(text)
    if not match:
        return ""
    month, day, year = match.groups()
    try:
        return dt.datetime.strptime(f"{month} {day} {year}", "%B %d %Y").date().isoformat()
    except ValueError:
        return ""


def _is_credit(raw: str, spans: list[tuple[int, int]], index: int) -> bool:
    """A photo credit line, or a member of a caption bullet group that holds one."""
    line = raw[spans[index][0]:spans[index][1]]
    if _CREDIT.search(line) and len(line) < 120 and not line.rstrip().endswith((".", "!", "?")):
        return True
    if not _BULLET.match(line):
        return False
    group = [index]
    for step in (-1, 1):
        j = index + step
        while 0 <= j < len(spans) and _BULLET.match(raw[spans[j][0]:spans[j][1]]):
            group.append(j)
            j += step
    return any(_CREDIT.search(raw[spans[j][0]:spans[j][1]]) for j in group)


def _looks_like_heading(clean: str) -> bool:
    words = clean.split()
    return 0 < len(words) <= 14 and len(clean) <= 100 and not clean.endswith(_CLOSING) \
        and not clean.startswith(("-", "*", "•")) and clean[0].isupper()


def _rejoin_page_breaks(raw: str, blocks: list[_Block]) -> list[tuple[ParagraphKind, tuple[tuple[int, int], ...]]]:
    """Blocks as (kind, raw segments); a body block cut by boilerplate absorbs its continuation."""
    merged: list[tuple[ParagraphKind, tuple[tuple[int, int], ...]]] = []
    absorbed: set[int] = set()
    for i, block in enumerate(blocks):
        if i in absorbed:
            continue
        segments = ((block.start, block.end),)
        if block.kind == "body":
            j = i + 1
            last = block
            while True:
                while j < len(blocks) and blocks[j].kind == "boilerplate":
                    j += 1
                if j == i + 1 or j >= len(blocks) or last.clean.endswith(_CLOSING):
                    break
                nxt = blocks[j]
                if nxt.kind != "body" or not nxt.clean[:1].islower():
                    break
                segments += ((nxt.start, nxt.end),)
                absorbed.add(j)
                last = nxt
                j += 1
        merged.append((block.kind, segments))
    return merged


def _paragraphs(doc_id: str, raw: str, merged) -> list[Paragraph]:
    paragraphs: list[Paragraph] = []
    n = 0
    for kind, segments in merged:
        start, end = segments[0][0], segments[-1][1]
        if kind == "body":
            n += 1
        paragraphs.append(Paragraph(
            doc_id=doc_id,
            n=n if kind == "body" else 0,
            start=start,
            end=end,
            text=raw[start:end],
            kind=kind,
            clean=clean_text(raw, segments).text,
            segments=segments,
        ))
    return paragraphs


def _title(paragraphs: list[Paragraph]) -> str:
    # A heading later in the article names it better than its first sentence cut off after a dozen words, and
    # Markdown and HTML pages are titled by their first heading wherever it is too.
    heading = next((p for p in paragraphs if p.kind == "heading"), None)
    return heading.clean if heading is not None else opening_words(paragraphs)
