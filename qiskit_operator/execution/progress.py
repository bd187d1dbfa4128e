"""How much of a run is done, while it runs: the pieces every layer shares.

A runner that can split its work (`execution.aer` runs a sweep's parameter sets in
chunks) calls a `ProgressReport` with (done, total) after each chunk; the confined
worker sends each call on to execute as a frame (`messages.Progressed`); execute
turns it into a `job.progressed` event through `Throttled`, at most one an
interval and only when the count moved (docs/client.md, Progress).

`Chunks` sizes the chunks: small at first, to learn the pace, then about
`target_seconds` each, so a sweep that takes a second pays for a few more Aer
calls only and one that takes minutes reports every fraction of a second.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

ProgressReport = Callable[[int, int], None]
"""Called with (done, total) units of work, as each chunk ends."""

MIN_FIRST_CHUNK = 2
"""The first chunk holds two sets at least: Aer's seed stride is read off it (`aer`)."""
MAX_CHUNKS = 200
"""Most chunks a run is split into, so the calls' own cost stays small."""


class Chunks:
    """Sizes of the next chunk of `total` units, from the pace of the ones before."""

    def __init__(self, total: int, target_seconds: float = 0.5) -> None:
        self.total = total
        self.done = 0
        self._target = target_seconds
        self._smallest = max(1, math.ceil(total / MAX_CHUNKS))
        self._pace: float | None = None  # seconds per unit, once a chunk was timed

    def next_size(self) -> int:
        """How many units the next chunk runs (0 when all are done)."""
        left = self.total - self.done
        if left <= 0:
            return 0
        if self._pace is None:
            size = max(MIN_FIRST_CHUNK, self._smallest)
        elif self._pace <= 0:
            size = left
        else:
            size = max(self._smallest, int(self._target / self._pace))
        return min(left, size)

    def ran(self, size: int, seconds: float) -> None:
        """A chunk of `size` units took `seconds`."""
        self.done += size
        self._pace = seconds / size if size else self._pace


class Throttled:
    """Passes a report on at most once every `interval` seconds, the first an interval
    after it was made (a run shorter than that reports nothing but its end), and only
    when the count moved since the last one passed on. A report that came too soon is
    dropped: the next one carries a higher count, and the run's end says it all anyway."""

    def __init__(
        self,
        report: ProgressReport,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._report = report
        self._interval = interval
        self._clock = clock
        self._last_done: int | None = None
        self._last_at = clock()
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        with self._lock:
            now = self._clock()
            if done == self._last_done or now - self._last_at < self._interval:
                return
            self._last_done, self._last_at = done, now
        self._report(done, total)
