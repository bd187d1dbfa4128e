"""An event is a claim: each is checked against the job as it is now (status.claims)."""

from __future__ import annotations

import pytest

from qiskit_operator import metrics
from qiskit_operator.events import payloads
from qiskit_operator.models import JobStatus, Phase
from qiskit_operator.models.spec import OutputSpec
from qiskit_operator.status.claims import Verdict, judge
from qiskit_operator.status.writer import JobNow
from tests.conftest import claimed_completion

JOB = payloads.JobRef(namespace="team-a", name="bell", uid="uid-a", generation=2)
WHERE = "file:///results/team-a/bell-uid-a-g2.json"


def now(phase: Phase | None, generation: int = 2, observed: int | None = 2) -> JobNow:
    status = None if phase is None else JobStatus(phase=phase, observed_generation=observed)
    ref = payloads.JobRef(namespace="team-a", name="bell", uid="uid-a", generation=generation)
    return JobNow(ref, status, OutputSpec(type="pvc"))


def about(uid: str = "uid-a", generation: int = 2) -> payloads.JobRef:
    return payloads.JobRef(namespace="team-a", name="bell", uid=uid, generation=generation)


def rejected(job: payloads.JobRef) -> payloads.JobRejected:
    return payloads.JobRejected(job=job, reason="Forged", message="you lose")


def completed(job: payloads.JobRef, location: str | None = WHERE) -> payloads.JobCompleted:
    return claimed_completion(job, location)


def test_a_claim_about_the_job_as_it_is_now_is_accepted() -> None:
    assert judge(now(Phase.VALIDATING), rejected(about()), WHERE).accepted
    assert judge(now(Phase.SCHEDULED), completed(about()), WHERE).accepted


def test_an_event_with_an_empty_uid_is_refused_whatever_else_it_says() -> None:
    judgement = judge(now(Phase.VALIDATING), rejected(about(uid="")), WHERE)
    assert judgement.verdict is Verdict.REFUSED and "names no job uid" in judgement.why


def test_an_event_naming_another_uid_is_refused() -> None:
    judgement = judge(now(Phase.VALIDATING), rejected(about(uid="uid-b")), WHERE)
    assert judgement.verdict is Verdict.REFUSED and "uid-b" in judgement.why


def test_an_event_about_a_job_that_does_not_exist_is_ignored() -> None:
    assert judge(None, completed(about()), WHERE).verdict is Verdict.IGNORED


def test_an_event_about_an_older_generation_is_ignored() -> None:
    assert judge(now(Phase.SCHEDULED), completed(about(generation=1)), WHERE).verdict is (
        Verdict.IGNORED
    )


def test_an_event_claiming_a_newer_generation_than_the_objects_is_refused() -> None:
    judgement = judge(now(Phase.VALIDATING), rejected(about(generation=3)), WHERE)
    assert judgement.verdict is Verdict.REFUSED
    assert "generation 3" in judgement.why and "generation 2" in judgement.why


@pytest.mark.parametrize("phase", [Phase.SCHEDULED, Phase.RETRYING])
def test_a_rejection_after_the_generation_was_validated_is_refused(phase: Phase) -> None:
    assert judge(now(phase), rejected(about()), WHERE).verdict is Verdict.REFUSED


@pytest.mark.parametrize("phase", [Phase.COMPLETED, Phase.FAILED])
def test_any_claim_about_a_finished_generation_is_ignored(phase: Phase) -> None:
    for claim in (rejected(about()), completed(about())):
        assert judge(now(phase), claim, WHERE).verdict is Verdict.IGNORED


def test_a_validation_after_executes_reply_is_accepted_for_the_metadata_it_adds() -> None:
    validated = payloads.JobValidated(
        job=about(),
        circuit_qpy="",
        format="qasm2",
        metadata=payloads.CircuitSummary(
            hash="h",
            qubits=2,
            clbits=2,
            depth=2,
            size=2,
            gate_types={},
            two_qubit_gates=1,
            parameters=[],
        ),
        backend="aer_simulator",
        execution=payloads.ExecutionRequest(shots=1, optimization_level=1, seed=1),
        estimated_cost=None,
        validation_seconds=0.0,
    )
    assert judge(now(Phase.COMPLETED), validated, WHERE).accepted


def test_the_phase_of_an_older_generation_does_not_count_for_the_new_one() -> None:
    # Generation 1 completed; generation 2 is not seen yet: its rejection is news.
    assert judge(now(Phase.COMPLETED, observed=1), rejected(about()), WHERE).accepted


def test_a_completion_pointing_anywhere_but_the_expected_result_file_is_refused() -> None:
    elsewhere = "file:///results/team-b/bell-uid-b-g1.json"
    judgement = judge(now(Phase.SCHEDULED), completed(about(), elsewhere), WHERE)
    assert judgement.verdict is Verdict.REFUSED and WHERE in judgement.why
    assert judge(now(Phase.SCHEDULED), completed(about(), None), WHERE).verdict is Verdict.REFUSED


def test_a_completion_with_results_for_a_job_that_asks_for_none_is_refused() -> None:
    judgement = judge(now(Phase.SCHEDULED), completed(about(), WHERE), None)
    assert judgement.verdict is Verdict.REFUSED
    assert judge(now(Phase.SCHEDULED), completed(about(), None), None).accepted


def test_every_reason_a_judgement_gives_is_a_series_reconcile_exports() -> None:
    scenarios = [
        judge(now(Phase.SCHEDULED), completed(about()), WHERE),
        judge(now(Phase.VALIDATING), rejected(about(uid="")), WHERE),
        judge(now(Phase.VALIDATING), rejected(about(uid="uid-b")), WHERE),
        judge(None, completed(about()), WHERE),
        judge(now(Phase.SCHEDULED), completed(about(generation=1)), WHERE),
        judge(now(Phase.VALIDATING), rejected(about(generation=3)), WHERE),
        judge(now(Phase.SCHEDULED), rejected(about()), WHERE),
        judge(now(Phase.FAILED), completed(about()), WHERE),
        judge(now(Phase.SCHEDULED), completed(about(), None), WHERE),
        judge(now(Phase.SCHEDULED), payloads.JobFinished(job=about(), phase="", message=""), WHERE),
    ]
    exported = {
        ("accepted", "ok"),
        *(("refused", reason) for reason in metrics.CLAIM_REFUSALS),
        *(("ignored", reason) for reason in metrics.CLAIM_IGNORES),
    }
    given = {(j.verdict.value, j.reason) for j in scenarios}
    assert given == exported
