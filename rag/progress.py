"""Progress of a long build: counts and a time estimate on a terminal, nothing in between elsewhere.

On a terminal the meter rewrites one line ("embedding 12,345/80,000 texts
(15%), about 1 min 40 s left") at most five times a second. In a log or CI
it writes nothing while working: the caller prints one summary line at the
end instead.
"""

from __future__ import annotations

import time
from typing import TextIO

REDRAW_S = 0.2


class Meter:
    def __init__(self, stream: TextIO, label: str = "embedding", unit: str = "texts") -> None:
        self._stream = stream
        self._label = label
        self._unit = unit
        self._started = 0.0
        self._drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self._started or done == 0:
            self._started = now
        if done < total and now - self._drawn < REDRAW_S:
            return
        self._drawn = now
        elapsed = now - self._started
        left = f", about {_duration(elapsed / done * (total - done))} left" if 0 < done < total and elapsed > 1 else ""
        share = 100 * done // total if total else 100
        self._stream.write(f"\r{self._label} {done:,}/{total:,} {self._unit} ({share}%){left}\033[K")
        if done >= total:
            self._stream.write("\n")
        self._stream.flush()


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
