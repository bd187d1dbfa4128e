"""Which job an event is about, for logs and traces, without decoding all of it.

ApiServerSource events carry the QiskitJob (`metadata`); the functions' replies carry
a `JobRef` (`job`) and, once stamped, the `jobuid` and `generation` extensions. One
msgspec pass reads only those fields (the circuit and results are skipped), so this
costs microseconds per event. Called by `tracing` for every event handled.
"""

from __future__ import annotations

import re

import msgspec

from qiskit_operator.events import types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.payloads import JobRef


class _Named(msgspec.Struct):
    name: str = ""
    namespace: str = "default"
    uid: str = ""
    generation: int = 0


class _Probe(msgspec.Struct):
    metadata: _Named | None = None  # a Kubernetes object (ApiServerSource)
    job: _Named | None = None  # our payloads' JobRef


_PROBE = msgspec.json.Decoder(_Probe)
# The ApiServerSource subject is the object's self-link: .../namespaces/NS/PLURAL/NAME.
_SELF_LINK = re.compile(r"/namespaces/([^/]+)/[^/]+/([^/]+)$")


def job_of(event: Envelope) -> JobRef | None:
    """The job `event` is about (uid "" when unknown), or None when it names none."""
    found: _Named | None = None
    if event.data and "json" in event.datacontenttype:
        try:
            probe = _PROBE.decode(event.data)
        except (msgspec.MsgspecError, RecursionError):  # not ours to refuse: only a probe
            probe = _Probe()
        found = probe.job or probe.metadata
    uid = event.extension(types.EXT_JOB_UID) or (found.uid if found else "")
    generation = _int(event.extension(types.EXT_GENERATION)) or (found.generation if found else 0)
    if found is not None and found.name:
        return JobRef(namespace=found.namespace, name=found.name, uid=uid, generation=generation)
    named = _from_subject(event.subject)
    if named is None:
        return None
    return JobRef(namespace=named[0], name=named[1], uid=uid, generation=generation)


def _from_subject(subject: str | None) -> tuple[str, str] | None:
    if not subject:
        return None
    link = _SELF_LINK.search(subject)
    if link is not None:
        return link.group(1), link.group(2)
    namespace, slash, name = subject.partition("/")
    return (namespace, name) if slash and namespace and name and "/" not in name else None


def _int(value: str | None) -> int:
    try:
        return int(value) if value else 0
    except ValueError:
        return 0
