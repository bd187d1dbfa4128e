"""Events of Knative's ApiServerSource in Resource mode, made and read.

`qop run` and `qop watch` make them exactly as the receive adapter does, so the
functions cannot tell the difference; the functions read them into a QiskitJob.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic

from qiskit_operator.errors import UserError
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.payloads import JobRef
from qiskit_operator.models import QiskitJob

LOCAL_SOURCE = "https://kubernetes.default.svc"


def subject_of(api_version: str, kind: str, namespace: str, name: str) -> str:
    # The adapter's self-link: group/version, then the lower-cased kind plus "s".
    return f"/apis/{api_version}/namespaces/{namespace}/{kind.lower()}s/{name}"


def resource_event(obj: dict[str, Any], event_type: str, source: str = LOCAL_SOURCE) -> Envelope:
    """The event the adapter sends for `obj` (one of the APISERVER_* types)."""
    meta = obj.get("metadata", {})
    api_version, kind = obj["apiVersion"], obj["kind"]
    namespace, name = meta.get("namespace", "default"), meta["name"]
    return Envelope(
        type=event_type,
        source=source,
        subject=subject_of(api_version, kind, namespace, name),
        data=json.dumps(obj, separators=(",", ":")).encode(),
        extensions={
            "kind": kind,
            "name": name,
            "namespace": namespace,
            "apiversion": api_version,
        },
    )


def job_from_event(envelope: Envelope) -> QiskitJob:
    """The QiskitJob an ApiServerSource event carries; UserError when it is not one."""
    try:
        return QiskitJob.model_validate_json(envelope.data)
    except pydantic.ValidationError as error:
        raise UserError(describe_validation_error(error), reason="InvalidSpec") from error


def job_ref(job: QiskitJob) -> JobRef:
    return JobRef(
        namespace=job.metadata.namespace,
        name=job.metadata.name,
        uid=job.metadata.uid or "",
        generation=job.generation,
    )


def job_ref_from_raw(envelope: Envelope) -> JobRef | None:
    """The job an event is about, even when its spec does not validate."""
    try:
        meta = json.loads(envelope.data).get("metadata", {})
        return JobRef(
            namespace=meta.get("namespace", "default"),
            name=meta["name"],
            uid=meta.get("uid", ""),
            generation=int(meta.get("generation") or 1),
        )
    except (ValueError, KeyError, AttributeError, TypeError, RecursionError):
        return None


def describe_validation_error(error: pydantic.ValidationError) -> str:
    """One line per problem, each naming the field as it is written in YAML."""
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "job"
        lines.append(f"{where}: {problem['msg']}")
    return "invalid QiskitJob: " + "; ".join(lines)
