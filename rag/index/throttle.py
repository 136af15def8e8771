"""`Throttle`: whether a message that would repeat is due again, so that a log says a lasting problem once and
then at most once every interval, not on every look (a server watching its index looks every 2 seconds)."""

from __future__ import annotations

import time
from collections.abc import Callable


class Throttle:
    """Says `due(key)` the first time a key is asked about, then again only once `interval_s` has passed."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}

    def due(self, key: str) -> bool:
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            return False
        self._last[key] = now
        return True

    def forget(self, key: str) -> None:
        """Make `due(key)` true again at once (what was said about it no longer holds)."""
        self._last.pop(key, None)
