"""Scale to zero and back on real Knative: with the test overlay's 6 s window every
function's pods go away once idle, and a job applied then brings all three back at
once (execute through the Trigger execute-wake-up, before validate has answered) and
completes. How long that takes is benchmarks/knative.py's to say."""

from __future__ import annotations

from qiskit_operator.local.knative.install import Knative
from qiskit_operator.local.node.images import FUNCTIONS
from tests.conftest import EXAMPLES
from tests.knative.jobs import final_status, function_pods, job_status, wait_until


def _all_at_zero(knative: Knative) -> bool:
    return not any(function_pods(knative, function) for function in FUNCTIONS)


def test_idle_functions_go_to_zero_and_a_job_brings_them_back(knative: Knative) -> None:
    # Idle window plus grace period plus queue-proxy's drain: well under three minutes.
    wait_until(lambda: _all_at_zero(knative), 300, "every function scaling to zero")
    bell = (EXAMPLES / "bell.yaml").read_text().replace("name: bell", "name: from-zero", 1)
    knative.node.kubectl("apply", "-f", "-", stdin=bell)
    # Woken by the job's creation, execute has a pod while the job is still being
    # validated: its cold start overlaps validate's rather than following its answer.
    wait_until(lambda: function_pods(knative, "execute"), 120, "execute waking up")
    assert job_status(knative, "from-zero").get("phase") in (None, "Pending", "Validating")
    status = final_status(knative, "from-zero")
    assert status.get("phase") == "Completed", status
    assert set(status["results"]["counts"]) == {"00", "11"}
    # And once the job is done they go back to zero.
    wait_until(lambda: _all_at_zero(knative), 300, "every function scaling to zero again")
