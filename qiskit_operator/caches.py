"""Bounded in-memory caches, each counted by a metric.

Every cache a long-lived function process keeps goes through `BoundedCache`:
device-like backends (`circuits.backends`, for validate and execute), and the
simulators, noise models and transpiled circuits of an `AerRunner`
(`execution.aer`), in execute or in its simulation worker. Each has a bound in
entries, and where one entry's size varies a lot also in weight (instructions
of a transpiled circuit); the least recently used entry goes first. The counts
appear as `qop_cache_*{cache, process}` (docs/metrics.md). The simulation
worker cannot serve metrics, so it sends its counts with every reply and
execute adds them up (`RemoteCacheCounts`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Annotated, Generic, TypeVar

import msgspec

from qiskit_operator import metrics

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

FUNCTION = "function"
"""The `process` label of a cache in the function's own process."""
WORKER = "simulation_worker"
"""The `process` label of a cache in execute's simulation worker."""


class CacheCounts(msgspec.Struct, frozen=True, kw_only=True):
    """What one cache has done since its process started, and what it holds."""

    name: Annotated[str, msgspec.Meta(max_length=64)]
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    entries: int = 0


class BoundedCache(Generic[K, V]):
    """A least-recently-used map of at most `max_entries` entries and, with `weigh`,
    at most `max_weight` in total; a value heavier than that alone is built and
    returned but not kept."""

    def __init__(
        self,
        name: str,
        *,
        max_entries: int,
        max_weight: int | None = None,
        weigh: Callable[[V], int] | None = None,
        process: str = FUNCTION,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"cache {name} needs room for one entry, not {max_entries}")
        self.name = name
        self._max_entries = max_entries
        self._max_weight = max_weight
        self._weigh = weigh
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        self._labels = (name, process)
        self._hits = self._misses = self._evictions = 0
        metrics.CACHE_ENTRIES.labels(*self._labels).set(0)

    def get(self, key: K, build: Callable[[], V]) -> V:
        """The value of `key`, built by `build` when the cache does not hold it. A build
        runs outside the lock: one slow build does not hold up hits on other keys."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                metrics.CACHE_HITS.labels(*self._labels).inc()
                return found[0]
            self._misses += 1
            metrics.CACHE_MISSES.labels(*self._labels).inc()
        value = build()
        weight = self._weigh(value) if self._weigh is not None else 0
        if self._max_weight is not None and weight > self._max_weight:
            return value
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:  # built twice at once: keep one
                self._weight -= previous[1]
            self._entries[key] = (value, weight)
            self._weight += weight
            self._evict()
            metrics.CACHE_ENTRIES.labels(*self._labels).set(len(self._entries))
        return value

    def _evict(self) -> None:
        while len(self._entries) > self._max_entries or (
            self._max_weight is not None and self._weight > self._max_weight
        ):
            _, (_, weight) = self._entries.popitem(last=False)
            self._weight -= weight
            self._evictions += 1
            metrics.CACHE_EVICTIONS.labels(*self._labels).inc()

    def counts(self) -> CacheCounts:
        with self._lock:
            return CacheCounts(
                name=self.name,
                hits=self._hits,
                misses=self._misses,
                evictions=self._evictions,
                entries=len(self._entries),
            )

    @property
    def weight(self) -> int:
        with self._lock:
            return self._weight


class RemoteCacheCounts:
    """The caches of a process that cannot serve metrics (the simulation worker), as
    this process's metrics: each report of its running totals adds what is new."""

    def __init__(self, process: str = WORKER) -> None:
        self._process = process
        self._last: dict[str, CacheCounts] = {}
        self._lock = threading.Lock()

    def report(self, counts: list[CacheCounts]) -> None:
        with self._lock:
            for now in counts:
                if now.name not in metrics.CACHE_NAMES:
                    continue  # a worker names only ours; anything else makes no series
                before = self._last.get(now.name, CacheCounts(name=now.name))
                labels = (now.name, self._process)
                metrics.CACHE_HITS.labels(*labels).inc(max(0, now.hits - before.hits))
                metrics.CACHE_MISSES.labels(*labels).inc(max(0, now.misses - before.misses))
                metrics.CACHE_EVICTIONS.labels(*labels).inc(
                    max(0, now.evictions - before.evictions)
                )
                metrics.CACHE_ENTRIES.labels(*labels).set(now.entries)
                self._last[now.name] = now

    def restarted(self) -> None:
        """The process was replaced: its caches are empty and its totals start at 0."""
        with self._lock:
            for name in self._last:
                metrics.CACHE_ENTRIES.labels(name, self._process).set(0)
            self._last.clear()
