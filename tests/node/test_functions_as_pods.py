"""The functions as pods on a real node: a QiskitJob applied with kubectl completes
through them, reconcile writes with the token mounted in its pod, the results
volume is shared, logs are JSON with the job's trace id, and losing the execute pod
mid-job loses no job."""

from __future__ import annotations

import json
import time
import uuid

from qiskit_operator.local.node.functions import NAMESPACE
from qiskit_operator.local.node.node import Node
from tests.conftest import EXAMPLES

COMPLETED_WITHIN = "300s"


def _completed(node: Node, name: str, namespace: str = "default") -> dict[str, object]:
    node.kubectl(
        "-n",
        namespace,
        "wait",
        "--for=jsonpath={.status.phase}=Completed",
        f"qjob/{name}",
        f"--timeout={COMPLETED_WITHIN}",
        timeout=330,
    )
    job: dict[str, object] = json.loads(
        node.kubectl("-n", namespace, "get", "qjob", name, "-o", "json").stdout
    )
    return job


def _final(node: Node, name: str, deadline_s: float = 300) -> dict[str, str]:
    """The job's status once its phase is final (Completed or Failed)."""
    deadline = time.monotonic() + deadline_s
    status: dict[str, str] = {}
    while time.monotonic() < deadline:
        got = node.kubectl("get", "qjob", name, "-o", "json", check=False)
        if got.returncode == 0:
            status = json.loads(got.stdout).get("status", {})
            if status.get("phase") in ("Completed", "Failed"):
                break
        time.sleep(1)
    return status


def _exec(node: Node, deployment: str, *argv: str) -> str:
    return node.kubectl("-n", NAMESPACE, "exec", f"deploy/{deployment}", "--", *argv).stdout


def test_bell_applied_with_kubectl_completes_through_the_pods_and_logs_its_trace(
    node: Node,
) -> None:
    node.kubectl("apply", "-f", str(EXAMPLES / "bell.yaml"))
    job = _completed(node, "bell")
    trace = uuid.UUID(job["metadata"]["uid"]).hex  # type: ignore[index]
    counts = job["status"]["results"]["counts"]  # type: ignore[index]
    assert set(counts) == {"00", "11"}
    records = {
        function: [
            json.loads(line)  # every line is JSON: json.loads fails on any other
            for line in node.kubectl(
                "-n", NAMESPACE, "logs", f"deploy/qiskit-{function}"
            ).stdout.splitlines()
            if line.strip()
        ]
        for function in ("validate", "execute", "reconcile")
    }
    # validate and execute say nothing at INFO about a job that goes well; reconcile
    # logs each phase it writes (one, when the events came faster than its writes),
    # with the job's trace id.
    moves = [r for r in records["reconcile"] if r.get("trace_id") == trace]
    assert moves and all(r["job"] == "default/bell" for r in moves), records


def test_the_other_examples_end_in_their_phases_through_the_pods(node: Node) -> None:
    # bell, ghz and ry-sweep complete in the tests around this one.
    for example in ("bell-estimator", "noisy-bell", "broken"):
        node.kubectl("apply", "-f", str(EXAMPLES / f"{example}.yaml"))
    estimator = _completed(node, "bell-estimator")["status"]
    noisy = _completed(node, "noisy-bell")["status"]
    broken = _final(node, "broken")
    assert estimator["results"]["expectationValues"], estimator  # type: ignore[index]
    noisy_counts = noisy["results"]["counts"]  # type: ignore[index]
    # The noise model shows: outcomes a perfect Bell circuit never gives.
    assert {"00", "11"} < set(noisy_counts), noisy_counts
    assert broken["phase"] == "Failed", broken
    assert "Python syntax error at line 4" in broken["message"], broken


def test_reconcile_writes_status_with_the_token_mounted_in_its_pod(node: Node) -> None:
    node.kubectl("apply", "-f", str(EXAMPLES / "ghz.yaml"))
    _completed(node, "ghz")
    pod = json.loads(
        node.kubectl(
            "-n",
            NAMESPACE,
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/name=qiskit-reconcile",
            "-o",
            "json",
        ).stdout
    )["items"][0]
    environment = {e["name"] for e in pod["spec"]["containers"][0].get("env", [])}
    who = _exec(
        node,
        "qiskit-reconcile",
        "python",
        "-c",
        "from kubernetes import client, config; config.load_incluster_config(); "
        "print(client.AuthenticationV1Api().create_self_subject_review("
        "{'apiVersion': 'authentication.k8s.io/v1', 'kind': 'SelfSubjectReview'})"
        ".status.user_info.username)",
    )
    assert "KUBECONFIG" not in environment
    assert pod["spec"]["serviceAccountName"] == "qiskit-reconcile"
    assert who.strip() == "system:serviceaccount:qiskit-operator:qiskit-reconcile"


def test_what_execute_stores_reconcile_reads_from_the_shared_volume(node: Node) -> None:
    node.kubectl("apply", "-f", str(EXAMPLES / "ry-sweep.yaml"))
    _completed(node, "ry-sweep")
    list_results = (
        "import os; print('\\n'.join(os.path.join(d, f) for d, _, fs in "
        "os.walk('/var/lib/qiskit-operator/results') for f in fs))"
    )
    written = set(_exec(node, "qiskit-execute", "python", "-c", list_results).split())
    seen = set(_exec(node, "qiskit-reconcile", "python", "-c", list_results).split())
    assert any("ry-sweep" in path for path in written)
    assert written <= seen


SLOW_JOB = """apiVersion: quantum.io/v1
kind: QiskitJob
metadata:
  name: slow
spec:
  backend:
    type: local_simulator
  circuit:
    source: inline
    code: |
      from qiskit import QuantumCircuit

      qc = QuantumCircuit(22)
      for layer in range(40):
          for q in range(22):
              qc.ry(0.1 * (layer + q), q)
          for q in range(21):
              qc.cx(q, q + 1)
      qc.measure_all()
  execution:
    shots: 1000
    optimizationLevel: 0
"""


def test_deleting_the_execute_pod_mid_job_loses_no_job(node: Node) -> None:
    node.kubectl("apply", "-f", "-", stdin=SLOW_JOB)
    # Scheduled: validate replied job.validated and the Broker is delivering it.
    node.kubectl(
        "wait",
        "--for=jsonpath={.status.phase}=Scheduled",
        "qjob/slow",
        "--timeout=300s",
        timeout=330,
    )
    node.kubectl(
        "-n",
        NAMESPACE,
        "delete",
        "pod",
        "-l",
        "app.kubernetes.io/name=qiskit-execute",
        "--wait=false",
    )
    # Not lost: it ends in a final phase. Completed when the pod drained it (SIGTERM
    # lets requests in flight finish); Failed, saying delivery stopped at execute, when
    # the event came while no execute pod was ready for longer than the Trigger's
    # retries (about 6 s; Knative's activator would hold it instead).
    slow = _final(node, "slow")
    node.kubectl(
        "-n",
        NAMESPACE,
        "rollout",
        "status",
        "deployment/qiskit-execute",
        "--timeout=300s",
        timeout=330,
    )
    # A small job, once the new pod is ready: the Deployment brought execute back.
    ghz = (EXAMPLES / "ghz.yaml").read_text().replace("name: ghz", "name: after", 1)
    node.kubectl("apply", "-f", "-", stdin=ghz)
    after = _completed(node, "after")
    assert slow["phase"] == "Completed" or (
        slow["phase"] == "Failed" and "qiskit-execute" in slow["message"]
    ), slow
    assert after["status"]["phase"] == "Completed"  # type: ignore[index]
