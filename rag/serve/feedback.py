"""Readers' verdicts on answers ("Helpful" / "Not helpful"), kept in one append-only JSONL file.

A `Rating` is what a reader saw (question, earlier turns, the Answer JSON)
and what they said of it (helpful, an optional comment), stamped with a time
and the index build that answered. `FeedbackStore` appends one JSON line per
rating to `<feedback_dir>/ratings.jsonl` and reads them back newest first.

Why these choices:

* Each line goes out in one `os.write` on a descriptor opened with
  `O_APPEND`, under a thread lock and an `flock` (several server processes
  may share the folder): concurrent ratings never interleave.
* A crash mid-write can leave a torn last line. Reading skips a line that is
  not complete JSON, and the next append first ends the torn line, so the
  damage never spreads to a rating before or after it.
* A rating written again with the same `rating_id` (the chat's comment added
  after the click) replaces the earlier one when read: the file is never
  rewritten, and the last word counts.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rag.schema import RagError, Turn

FILE_NAME = "ratings.jsonl"
MAX_COMMENT_CHARS = 2000  # a comment says what was wrong; longer is a paste, not a verdict

_log = logging.getLogger("rag.serve.feedback")


class FeedbackError(RagError):
    """The ratings cannot be stored or read (the folder is not writable)."""


class RatingError(RagError):
    """A rating the store does not take as given (a comment over the limit)."""


@dataclass(frozen=True)
class Rating:
    question: str
    answer: Mapping[str, Any]  # the Answer JSON the reader rated (rag.answer.contract)
    helpful: bool
    history: tuple[Turn, ...] = ()  # the earlier turns of the conversation, oldest first
    comment: str = ""
    build_id: str = ""  # the index build that answered
    time: str = ""  # UTC, ISO 8601; set by `FeedbackStore.add`
    rating_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if len(self.comment) > MAX_COMMENT_CHARS:
            raise RatingError(f"the comment has {len(self.comment)} characters; the limit is {MAX_COMMENT_CHARS}: "
                                "shorten it to what was wrong with the answer")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.rating_id, "time": self.time, "build_id": self.build_id, "question": self.question,
                "history": [{"question": t.question, "answer": t.answer} for t in self.history],
                "answer": dict(self.answer), "helpful": self.helpful, "comment": self.comment}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rating:
        return cls(question=data["question"], answer=data["answer"], helpful=data["helpful"],
                   history=tuple(Turn(t["question"], t.get("answer", "")) for t in data.get("history", [])),
                   comment=data.get("comment", ""), build_id=data.get("build_id", ""), time=data["time"],
                   rating_id=data["id"])


class FeedbackStore:
    """The ratings of one folder; `add` is safe from many threads and processes at once."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILE_NAME
        self._lock = threading.Lock()

    def add(self, rating: Rating) -> Rating:
        """Append `rating`, stamped with the current time; returns it as stored."""
        stored = replace(rating, time=datetime.now(timezone.utc).isoformat(timespec="microseconds"))
        line = (json.dumps(stored.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self._lock:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    size = os.fstat(fd).st_size
                    # A torn last line (a crash mid-write) is ended first, so this rating starts a line of its own.
                    torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
                    data = b"\n" + line if torn else line
                    written = os.write(fd, data)
                    if written != len(data):
                        raise OSError(f"wrote {written} of {len(data)} bytes (disk full?)")
                finally:
                    os.close(fd)  # also releases the flock
        except OSError as err:
            raise FeedbackError(f"cannot store the rating in {self.path} ({err}); make RAG_FEEDBACK_DIR "
                                "a writable folder") from None
        return stored

    def ratings(self) -> list[Rating]:
        """Every rating, newest first; a rating written again under its id counts once, as last written."""
        try:
            lines = self.path.read_bytes().split(b"\n")
        except FileNotFoundError:
            return []
        except OSError as err:
            raise FeedbackError(f"cannot read the ratings in {self.path} ({err}); make RAG_FEEDBACK_DIR "
                                "a readable folder") from None
        latest: dict[str, Rating] = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                rating = Rating.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError, AttributeError):
                _log.warning("%s line %d is not a complete rating (a write cut short?); skipped", self.path, number)
                continue
            latest.pop(rating.rating_id, None)  # re-inserted: the dict keeps the order of last writes
            latest[rating.rating_id] = rating
        return sorted(latest.values(), key=lambda r: r.time, reverse=True)
