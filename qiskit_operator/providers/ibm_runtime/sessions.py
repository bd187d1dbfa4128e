"""The Runtime Session or Batch a QiskitSession's jobs run inside, on IBM Runtime.

Called by `runtime` for a workload whose job belongs to a QiskitSession
(docs/sessions.md): `dedicated` opens a `qiskit_ibm_runtime.Session`, `batch` a
`Batch`, once per session and device in this process, and the primitives of every
later job of that session run in it. With device snapshots (local testing mode)
the library accepts both and runs locally. A bounded number stay open; the oldest
is closed when more are needed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qiskit.providers import BackendV2
    from qiskit_ibm_runtime import Batch, Session

MAX_OPEN = 32
_OPEN: OrderedDict[tuple[str, str, str], Session | Batch] = OrderedDict()
_LOCK = threading.Lock()


def runtime_mode(
    device: BackendV2, session: str | None, mode: str | None
) -> BackendV2 | Session | Batch:
    """What the primitives run in: the session's Runtime Session or Batch, else the device."""
    if session is None:
        return device
    from qiskit_ibm_runtime import Batch, Session

    key = (session, device.name, mode or "dedicated")
    with _LOCK:
        found = _OPEN.get(key)
        if found is not None:
            _OPEN.move_to_end(key)
            return found
        opened: Session | Batch = (
            Batch(backend=device) if mode == "batch" else Session(backend=device)
        )
        _OPEN[key] = opened
        while len(_OPEN) > MAX_OPEN:
            _, oldest = _OPEN.popitem(last=False)
            oldest.close()
        return opened


def open_sessions() -> list[tuple[str, str]]:
    """(QiskitSession, "Session" or "Batch") of each Runtime session open here, oldest first."""
    with _LOCK:
        return [(key[0], type(each).__name__) for key, each in _OPEN.items()]
