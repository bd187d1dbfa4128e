"""status.progress: parameter sets of a sweep (or the one circuit), none done when the
run is scheduled, all when it completed."""

from __future__ import annotations

import msgspec

from qiskit_operator.events import payloads
from qiskit_operator.status import transitions
from tests import replies
from tests.unit.test_transitions import NOW, ref

SWEEP = [[0.1], [0.2], [0.3]]


def sweep_validated() -> payloads.JobValidated:
    work = replies.validated(ref())
    return msgspec.structs.replace(
        work, execution=msgspec.structs.replace(work.execution, parameter_values=SWEEP)
    )


def test_a_scheduled_sweep_has_none_of_its_parameter_sets_done() -> None:
    status = transitions.validated(transitions.seen(None, 1, NOW), sweep_validated(), NOW)
    assert status is not None and status.progress == "0/3 parameter sets"


def test_a_completed_sweep_has_all_its_parameter_sets_done() -> None:
    scheduled = transitions.validated(transitions.seen(None, 1, NOW), sweep_validated(), NOW)
    done = msgspec.structs.replace(
        replies.completed(ref()),
        sweep=[payloads.SweepPoint(parameters=row, counts={"0": 1}) for row in SWEEP],
    )
    status = transitions.completed(scheduled, done, NOW)
    assert status is not None and status.progress == "3/3 parameter sets"


def test_a_single_circuit_counts_as_one() -> None:
    scheduled = transitions.validated(transitions.seen(None, 1, NOW), replies.validated(ref()), NOW)
    assert scheduled is not None and scheduled.progress == "0/1 circuits"
    status = transitions.completed(scheduled, replies.completed(ref()), NOW)
    assert status is not None and status.progress == "1/1 circuits"
