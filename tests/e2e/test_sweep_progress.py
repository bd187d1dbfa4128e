"""A long sweep's progress on the real API server: watched while it runs, the job's
status.progress counts its parameter sets up between none and all done, as execute's
`job.progressed` events reach reconcile through the authenticated Broker."""

from __future__ import annotations

import re
import subprocess

import yaml

from qiskit_operator.local.stack import Stack

NAME = "long-sweep"
SETS = 80
QUBITS = 12


def long_sweep() -> dict[str, object]:
    """A sweep that takes seconds: many sets of a 12-qubit circuit, run in the confined
    worker (a time limit), which sends its counts across to execute."""
    lines = [
        "OPENQASM 3.0;",
        'include "stdgates.inc";',
        "input float theta;",
        f"qubit[{QUBITS}] q;",
        f"bit[{QUBITS}] c;",
        *(f"ry(theta) q[{i}];" for i in range(QUBITS)),
        *(f"cx q[{i}], q[{i + 1}];" for i in range(QUBITS - 1)),
        *(f"rx(theta) q[{i}];" for i in range(QUBITS)),
        "c = measure q;",
    ]
    return {
        "apiVersion": "quantum.io/v1",
        "kind": "QiskitJob",
        "metadata": {"name": NAME, "namespace": "default"},
        "spec": {
            "circuit": {"format": "qasm3", "code": "\n".join(lines)},
            "execution": {
                "shots": 4000,
                "seed": 11,
                "maxExecutionTime": "400s",
                "parameterValues": [[round(3.1 * i / SETS, 4)] for i in range(SETS)],
            },
        },
    }


def test_a_long_sweeps_progress_counts_up_while_it_runs(stack: Stack) -> None:
    cluster = stack.cluster
    watch = subprocess.Popen(
        cluster.in_netns(
            [
                "timeout",
                "300",
                str(cluster.binaries.kubectl),
                "--kubeconfig",
                str(cluster.kubeconfig),
                "get",
                "qjob",
                "-n",
                "default",
                "--field-selector",
                f"metadata.name={NAME}",
                "--watch",
                "-o",
                "jsonpath={.status.phase}|{.status.progress}{'\\n'}",
            ]
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    seen: list[tuple[str, str]] = []
    with watch:
        try:
            stack.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(long_sweep()))
            assert watch.stdout is not None
            for line in watch.stdout:
                phase, _, progress = line.strip().partition("|")
                seen.append((phase, progress))
                if phase in ("Completed", "Failed"):
                    break
        finally:
            watch.kill()
            stack.kubectl("delete", "qjob", NAME, "-n", "default", "--wait=false", check=False)
    assert seen and seen[-1] == ("Completed", f"{SETS}/{SETS} parameter sets"), (
        f"{seen}\n{stack.logs()}"
    )
    counts = [int(m[1]) for _, p in seen if (m := re.match(r"(\d+)/", p))]
    between = [c for c in counts if 0 < c < SETS]
    assert between, f"no count between none and all done was seen: {seen}\n{stack.logs()}"
    assert counts == sorted(counts), f"progress went back: {seen}"
