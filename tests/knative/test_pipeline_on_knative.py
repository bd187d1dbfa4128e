"""The product as it runs on a cluster: knative/ applied, with only an image overlay,
onto real Knative Serving and Eventing with Traefik as the ingress. Jobs applied with
kubectl travel ApiServerSource -> Broker -> Triggers -> Knative Services, a failed
delivery ends at reconcile's dead-letter sink, and the resync ping mends a lost event."""

from __future__ import annotations

import json
import shlex
import subprocess

import yaml

from qiskit_operator.local.knative.install import DOMAIN, KSVCS, Knative
from qiskit_operator.local.node.functions import NAMESPACE
from qiskit_operator.local.node.network import NODE_ADDRESS
from tests.conftest import EXAMPLES
from tests.knative.jobs import final_status

# Each example and the phase it ends in. The function images leave out the ibm and
# braket extras (docs/backends.md), so what needs them fails, saying which to install:
# bell-selected prefers the fake IBM device of examples/backends/. hardware-job's fake
# remote device is configured for `qop run` only.
EXAMPLES_AND_PHASES = {
    "bell": "Completed",
    "bell-estimator": "Completed",
    "ghz": "Completed",
    "noisy-bell": "Completed",
    "ry-sweep": "Completed",
    "broken": "Failed",
    "ibm-fake-device": "Failed",
    "bell-selected": "Failed",
    "braket-local": "Failed",
}
NEEDS_EXTRA = {"ibm-fake-device": "ibm", "bell-selected": "ibm", "braket-local": "braket"}


def _names(knative: Knative, kind: str) -> dict[str, str]:
    """Each object of `kind` in the namespace -> its Ready condition's status."""
    listed = json.loads(knative.node.kubectl("-n", NAMESPACE, "get", kind, "-o", "json").stdout)
    return {
        item["metadata"]["name"]: next(
            (
                c["status"]
                for c in item.get("status", {}).get("conditions", [])
                if c["type"] == "Ready"
            ),
            "Unknown",
        )
        for item in listed["items"]
    }


def test_knative_runs_the_manifests_as_written(knative: Knative) -> None:
    services, brokers, triggers = (_names(knative, kind) for kind in ("ksvc", "broker", "trigger"))
    sources = _names(knative, "apiserversource") | _names(knative, "pingsource")
    # The ApiServerSource controller made its own receive adapter, running our build.
    adapters = knative.node.kubectl(
        "-n",
        NAMESPACE,
        "get",
        "deployments",
        "-o",
        "jsonpath={.items[*].spec.template.spec.containers[*].image}",
    ).stdout
    assert services == dict.fromkeys(KSVCS, "True")
    assert brokers == {"qiskit": "True"}
    assert set(triggers.values()) == {"True"} and len(triggers) >= 5, triggers
    assert sources == {"qiskit-jobs": "True", "qiskit-resync": "True"}
    assert "dev.local/knative/eventing-apiserver-receive-adapter" in adapters


def test_every_example_applied_with_kubectl_ends_in_its_phase(knative: Knative) -> None:
    knative.node.kubectl("apply", "-f", str(EXAMPLES / "backends"))
    for example in EXAMPLES_AND_PHASES:
        knative.node.kubectl("apply", "-f", str(EXAMPLES / f"{example}.yaml"))
    ended = {}
    for example in EXAMPLES_AND_PHASES:
        name = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())["metadata"]["name"]
        ended[example] = final_status(knative, name)
    assert {example: status.get("phase") for example, status in ended.items()} == (
        EXAMPLES_AND_PHASES
    ), ended
    assert set(ended["bell"]["results"]["counts"]) == {"00", "11"}
    assert "Python syntax error at line 4" in ended["broken"]["message"]
    for example, extra in NEEDS_EXTRA.items():
        assert f"qiskit-operator[{extra}]" in ended[example]["message"], ended[example]


def test_validate_answers_post_validate_through_the_ingress(knative: Knative) -> None:
    bell = (EXAMPLES.parent / "tests" / "e2e" / "bell.qasm").read_text()
    body = json.dumps({"code": bell, "backend_name": "aer_simulator"})
    host = f"qiskit-validate.{NAMESPACE}.{DOMAIN}"
    curl = [
        "curl",
        "-sS",
        "--max-time",
        "120",
        "-H",
        f"Host: {host}",
        "-H",
        "Content-Type: application/json",
        "--data",
        body,
        f"http://{NODE_ADDRESS}/validate",
    ]
    answer = subprocess.run(
        knative.node.cluster.in_netns(curl), capture_output=True, text=True, check=True
    )
    reply = json.loads(answer.stdout)
    assert reply["valid"] is True, reply


def test_an_event_that_cannot_be_delivered_fails_its_job_through_the_dead_letter_sink(
    knative: Knative,
) -> None:
    # validate's Trigger pointed at a path validate does not serve: every delivery of
    # the job's event fails, and after the retries knative/triggers.yaml sets the
    # Broker sends it to reconcile's /dead-letter.
    trigger = "validate-job-changes"
    knative.node.kubectl(
        "-n",
        NAMESPACE,
        "patch",
        "trigger",
        trigger,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"subscriber": {"uri": "/no-such-path"}}}),
    )
    try:
        knative.node.kubectl(
            "-n",
            NAMESPACE,
            "wait",
            f"trigger/{trigger}",
            "--for=condition=Ready",
            "--timeout=60s",
            timeout=70,
        )
        ghz = (EXAMPLES / "ghz.yaml").read_text().replace("name: ghz", "name: undeliverable", 1)
        knative.node.kubectl("apply", "-f", "-", stdin=ghz)
        status = final_status(knative, "undeliverable")
    finally:
        knative.node.kubectl(
            "-n",
            NAMESPACE,
            "patch",
            "trigger",
            trigger,
            "--type",
            "json",
            "-p",
            json.dumps([{"op": "remove", "path": "/spec/subscriber/uri"}]),
        )
    assert status.get("phase") == "Failed", status
    assert "qiskit-validate" in status["message"], status


def test_a_job_whose_event_was_lost_is_mended_by_the_resync_ping(knative: Knative) -> None:
    # Knative's receive adapter drops what its first list finds (docs/resync.md): a job
    # created while the source is away is never announced.
    source = knative.node.kubectl(
        "-n", NAMESPACE, "get", "apiserversource", "qiskit-jobs", "-o", "json"
    ).stdout
    manifest = json.loads(source)
    for key in ("status",):
        manifest.pop(key, None)
    manifest["metadata"] = {
        k: v
        for k, v in manifest["metadata"].items()
        if k in ("name", "namespace", "labels", "annotations")
    }
    knative.node.kubectl("-n", NAMESPACE, "delete", "apiserversource", "qiskit-jobs", "--wait=true")
    ghz = (EXAMPLES / "ghz.yaml").read_text().replace("name: ghz", "name: unannounced", 1)
    knative.node.kubectl("apply", "-f", "-", stdin=ghz)
    knative.node.kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    knative.node.kubectl(
        "-n",
        NAMESPACE,
        "wait",
        "apiserversource/qiskit-jobs",
        "--for=condition=Ready",
        "--timeout=120s",
        timeout=130,
    )
    # The PingSource fires every minute in the test overlay; reconcile asks again for
    # the job, and that status write is an event the source does send.
    status = final_status(knative, "unannounced", deadline_s=300)
    assert status.get("phase") == "Completed", status
    events = knative.node.kubectl(
        "get", "events", "--field-selector", "involvedObject.name=unannounced", "-o", "json"
    ).stdout
    assert "Resynced" in {e["reason"] for e in json.loads(events)["items"]}, shlex.quote(events)
