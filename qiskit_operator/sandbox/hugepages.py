"""The zygote's heap in transparent huge pages, so that forking a child costs less.

Called once by the sandbox zygote (`zygote.main`), after its warm-up and just before
it starts forking. A fork copies one page-table entry per 4 KiB page the parent has
mapped, and each child's exit drops them again: with Qiskit loaded that is some
15,000 entries a child, about 1 ms in the zygote and 1 ms in the child's exit
(benchmarks/sandbox.py). Collapsed into 2 MiB pages (MADV_COLLAPSE, Linux 6.1), the
same heap is a few dozen entries. Nothing about a child's memory changes: a child
that writes to a huge page gets that page split and its own copy of the 4 KiB it
wrote, exactly as before, and the zygote's pages stay its own.

Best effort: a kernel without MADV_COLLAPSE, or with huge pages disabled for this
process, leaves the heap as it was; the sandbox is as confined either way.
MADV_COLLAPSE does not depend on /sys/kernel/mm/transparent_hugepage/enabled.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

_MADV_COLLAPSE = 25
_HUGE = 2 << 20

_libc = ctypes.CDLL(None, use_errno=True)
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.madvise.restype = ctypes.c_int


def _heap_ranges(maps: str) -> list[tuple[int, int]]:
    """The 2 MiB-aligned parts of the private, writable, anonymous mappings in `maps`
    (the text of /proc/self/maps): Python's arenas and the malloc heap."""
    ranges = []
    for line in maps.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        name = fields[5] if len(fields) > 5 else ""
        if not fields[1].startswith("rw") or fields[1][3] != "p" or name not in ("", "[heap]"):
            continue
        low, high = (int(edge, 16) for edge in fields[0].split("-"))
        start, end = (low + _HUGE - 1) & ~(_HUGE - 1), high & ~(_HUGE - 1)
        if end > start:
            ranges.append((start, end))
    return ranges


def collapse_heap() -> int:
    """Collapse this process's heap into huge pages; the bytes now in them (0: none)."""
    try:
        with open("/proc/self/maps") as maps:
            ranges = _heap_ranges(maps.read())
    except OSError:
        return 0
    collapsed = 0
    for start, end in ranges:
        # Only what is mapped now: MADV_HUGEPAGE is not set, so memory a child maps
        # later is not handed out (and zeroed) 2 MiB at a time.
        if _libc.madvise(start, end - start, _MADV_COLLAPSE) == 0:
            collapsed += end - start
    if not collapsed:
        log.debug("sandbox zygote: the heap stays in 4 KiB pages (no MADV_COLLAPSE here)")
    return collapsed
