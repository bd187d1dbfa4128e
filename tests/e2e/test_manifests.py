"""knative/ as a real API server takes it, checked against Knative's own CRDs.

The CRDs of Knative Serving and Eventing (controlplane/knative-crds.sh, from
their Go modules at the versions in controlplane/versions.env) are installed
into the e2e control plane; then every manifest is applied with
`--dry-run=server --validate=strict`: the API server decodes it, checks it
against the CRD's OpenAPI schema (types, enums, required fields) and, with
strict field validation, refuses a field the schema does not know where the
schema prunes unknown fields (the Service's pod spec does; Trigger and
ApiServerSource specs keep unknown fields, so there only the known ones are
checked). Knative's admission webhooks do not run here: what only they check
(feature flags such as the PVC one, containerConcurrency >= 0, timeoutSeconds
under max-revision-timeout-seconds, probe ports, that referenced Services and
Brokers resolve) is not checked by these tests.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from qiskit_operator.local.devcluster import DevCluster
from tests.conftest import ROOT

# Collecting the CRDs downloads three Go modules the first time (seconds).
pytestmark = pytest.mark.timeout(600)

IN_CI = os.environ.get("CI", "").lower() == "true"
KNATIVE = ROOT / "knative"
NS = "qiskit-operator"


@pytest.fixture(scope="module")
def knative_cluster(cluster: DevCluster) -> Iterator[DevCluster]:
    """The e2e control plane with Knative Serving's and Eventing's CRDs installed."""
    collected = subprocess.run(
        ["bash", str(ROOT / "controlplane" / "knative-crds.sh")],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    if collected.returncode != 0:
        message = f"collecting Knative's CRDs failed:\n{collected.stderr[-3000:]}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    crds = collected.stdout.strip().splitlines()[-1]
    # Server-side: Serving's CRDs are too big for client-side apply's annotation.
    cluster.kubectl("apply", "--server-side", "-f", crds)
    cluster.kubectl("wait", "--for=condition=Established", "-f", crds, "--timeout=120s")
    yield cluster
    # The control plane is shared with the other e2e modules: leave it as it was.
    cluster.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", crds)


def dry_run(cluster: DevCluster, *source: str) -> Any:
    result = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "--validate=strict",
        "-o",
        "json",
        *source,
        check=False,
    )
    assert result.returncode == 0, f"the API server refused {' '.join(source)}: {result.stderr}"
    return json.loads(result.stdout)


def items(answer: dict[str, Any]) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = answer["items"] if answer["kind"] == "List" else [answer]
    return listed


def validate_service() -> dict[str, Any]:
    for document in yaml.safe_load_all((KNATIVE / "services.yaml").read_text()):
        if document["kind"] == "Service" and document["metadata"]["name"] == "qiskit-validate":
            return copy.deepcopy(document)
    raise AssertionError("knative/services.yaml has no qiskit-validate Service")


def test_the_kustomization_passes_the_api_servers_validation(knative_cluster: DevCluster) -> None:
    answer = dry_run(knative_cluster, "-k", str(KNATIVE))
    installed = {(o["kind"], o["metadata"]["name"]) for o in items(answer)}
    assert {
        ("Service", "qiskit-validate"),
        ("Service", "qiskit-execute"),
        ("Service", "qiskit-reconcile"),
        ("PersistentVolumeClaim", "qiskit-results"),
        ("Broker", "qiskit"),
        ("ApiServerSource", "qiskit-jobs"),
        ("Trigger", "validate-job-changes"),
        ("Trigger", "execute-validated-jobs"),
        ("Trigger", "reconcile-job-changes"),
        ("Trigger", "reconcile-job-outcomes"),
        ("ServiceAccount", "qiskit-job-source"),
    } <= installed


def test_the_server_keeps_what_the_functions_rely_on(knative_cluster: DevCluster) -> None:
    answer = dry_run(knative_cluster, "-f", str(KNATIVE / "services.yaml"))
    services = {o["metadata"]["name"]: o for o in items(answer) if o["kind"] == "Service"}
    execute = services["qiskit-execute"]["spec"]["template"]["spec"]
    assert execute["containerConcurrency"] == 1
    assert execute["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert execute["volumes"][0]["persistentVolumeClaim"] == {"claimName": "qiskit-results"}
    reconcile = services["qiskit-reconcile"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "QOP_STATUS_WRITER", "value": "kubernetes"} in reconcile["env"]


def test_the_crds_and_the_examples_pass_the_api_servers_validation(
    knative_cluster: DevCluster,
) -> None:
    dry_run(knative_cluster, "-f", str(ROOT / "crds"))
    answer = dry_run(knative_cluster, "-f", str(ROOT / "examples"))
    written = {
        document["metadata"]["name"]
        for path in sorted((ROOT / "examples").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    }
    assert {o["metadata"]["name"] for o in items(answer)} == written


def test_a_misspelled_service_field_is_refused(knative_cluster: DevCluster) -> None:
    service = validate_service()
    service["spec"]["template"]["spec"]["containerConcurency"] = 1  # sic
    refused = knative_cluster.kubectl(
        "apply",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        stdin=yaml.safe_dump(service),
        check=False,
    )
    assert refused.returncode != 0
    assert 'unknown field "spec.template.spec.containerConcurency"' in refused.stderr


def test_a_service_field_of_the_wrong_type_is_refused(knative_cluster: DevCluster) -> None:
    service = validate_service()
    service["spec"]["template"]["spec"]["timeoutSeconds"] = "a minute"
    refused = knative_cluster.kubectl(
        "apply", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(service), check=False
    )
    assert refused.returncode != 0
    assert "spec.template.spec.timeoutSeconds" in refused.stderr


def references(manifest: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(kind, name) of each object a Knative object points at."""
    spec = manifest.get("spec", {})
    sinks = [spec.get("subscriber"), spec.get("sink")]
    sinks.append((spec.get("delivery") or {}).get("deadLetterSink"))
    for sink in sinks:
        if sink and "ref" in sink:
            yield sink["ref"]["kind"], sink["ref"]["name"]
    if "broker" in spec:
        yield "Broker", spec["broker"]
    if "serviceAccountName" in spec:
        yield "ServiceAccount", spec["serviceAccountName"]
    pod = spec.get("template", {}).get("spec", {})
    if "serviceAccountName" in pod:
        yield "ServiceAccount", pod["serviceAccountName"]
    for volume in pod.get("volumes", []):
        if "persistentVolumeClaim" in volume:
            yield "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]


def test_every_reference_in_the_kustomization_names_something_it_installs(
    knative_cluster: DevCluster,
) -> None:
    # What Knative's webhooks and controllers would resolve; by name here.
    built = knative_cluster.kubectl("kustomize", str(KNATIVE)).stdout
    objects = [o for o in yaml.safe_load_all(built) if o]
    installed = {(o["kind"], o["metadata"]["name"]) for o in objects}
    wanted = {ref for o in objects for ref in references(o)}
    assert ("Service", "qiskit-reconcile") in wanted and ("Broker", "qiskit") in wanted
    assert wanted - installed == set()
    assert all(o["metadata"].get("namespace", NS) == NS for o in objects)


def test_every_dead_letter_goes_to_reconciles_dead_letter_endpoint(
    knative_cluster: DevCluster,
) -> None:
    built = knative_cluster.kubectl("kustomize", str(KNATIVE)).stdout
    routed = [o for o in yaml.safe_load_all(built) if o and o["kind"] in ("Trigger", "Broker")]
    sinks = [o["spec"]["delivery"]["deadLetterSink"] for o in routed]
    assert len(sinks) == 5
    for sink in sinks:
        assert (sink["ref"]["name"], sink["uri"]) == ("qiskit-reconcile", "/dead-letter")
