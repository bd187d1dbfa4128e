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

knative/webhook/ (the opt-in admission webhook) needs no Knative: its
Deployment, Service, PodDisruptionBudget and ValidatingWebhookConfiguration are
checked the same way. Its Issuer and Certificate are cert-manager's kinds, whose
CRDs the test API server does not have, so those two are checked by name only
(that the names the other objects use match them).
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from qiskit_operator.local.devcluster import DevCluster
from tests.cluster import IN_CI
from tests.conftest import ROOT

# Collecting the CRDs downloads three Go modules the first time (seconds).
pytestmark = pytest.mark.timeout(600)

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


def dry_run(cluster: DevCluster, *source: str, stdin: str | None = None) -> Any:
    result = cluster.kubectl(
        "apply",
        "--dry-run=server",
        "--validate=strict",
        "-o",
        "json",
        *source,
        stdin=stdin,
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
        ("Trigger", "execute-wake-up"),
        ("Trigger", "reconcile-job-changes"),
        ("Trigger", "reconcile-job-outcomes"),
        ("ServiceAccount", "qiskit-job-source"),
        ("EventPolicy", "qiskit-job-source"),
        ("EventPolicy", "qiskit-resync-ping"),
        ("EventPolicy", "qiskit-validate-replies"),
        ("EventPolicy", "qiskit-execute-replies"),
        ("EventPolicy", "qiskit-reconcile-replies"),
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
    assert len(sinks) == 8
    for sink in sinks:
        assert (sink["ref"]["name"], sink["uri"]) == ("qiskit-reconcile", "/dead-letter")


WEBHOOK = KNATIVE / "webhook"
CERT_MANAGER = "cert-manager.io/v1"


def webhook_objects(cluster: DevCluster) -> dict[tuple[str, str], dict[str, Any]]:
    """knative/webhook/ as kustomize builds it, by (kind, name)."""
    built = cluster.kubectl("kustomize", str(WEBHOOK)).stdout
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(built) if o}


def test_the_webhook_manifests_pass_the_api_servers_validation(cluster: DevCluster) -> None:
    objects = webhook_objects(cluster)
    checkable = [o for o in objects.values() if o["apiVersion"] != CERT_MANAGER]
    answer = dry_run(cluster, "-f", "-", stdin=yaml.safe_dump_all(checkable))
    stored = {(o["kind"], o["metadata"]["name"]): o for o in items(answer)}
    assert set(stored) == {
        ("Deployment", "qiskit-admission"),
        ("Service", "qiskit-admission"),
        ("PodDisruptionBudget", "qiskit-admission"),
        ("ValidatingWebhookConfiguration", "qiskit-admission"),
    }
    assert set(objects) - set(stored) == {
        ("Issuer", "qiskit-admission"),
        ("Certificate", "qiskit-admission"),
    }

    (hook,) = stored[("ValidatingWebhookConfiguration", "qiskit-admission")]["webhooks"]
    (rule,) = hook["rules"]
    # qiskitjobs only: reconcile's writes to qiskitjobs/status never reach the webhook.
    assert (rule["apiGroups"], rule["resources"]) == (["quantum.io"], ["qiskitjobs"])
    assert rule["operations"] == ["CREATE", "UPDATE"]
    assert hook["admissionReviewVersions"] == ["v1"]
    assert (hook["sideEffects"], hook["failurePolicy"], hook["timeoutSeconds"]) == (
        "None",
        "Ignore",
        5,
    )
    # The API server compiled the CEL: an update that leaves the spec alone is not sent.
    assert [c["name"] for c in hook["matchConditions"]] == ["creates-and-spec-changes"]
    assert hook["namespaceSelector"]["matchExpressions"] == [
        {"key": "quantum.io/admission", "operator": "NotIn", "values": ["disabled"]}
    ]

    deployment = stored[("Deployment", "qiskit-admission")]["spec"]
    (container,) = deployment["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert deployment["replicas"] == 2
    assert env["ENABLE_WEBHOOKS"] == "true"
    assert env["TLS_CERT_FILE"].startswith(container["volumeMounts"][0]["mountPath"] + "/")
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    validate = validate_service()["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == validate["image"]
    assert container["securityContext"] == validate["securityContext"]


def test_the_webhook_objects_name_each_other_rightly(cluster: DevCluster) -> None:
    objects = webhook_objects(cluster)
    configuration = objects[("ValidatingWebhookConfiguration", "qiskit-admission")]
    (hook,) = configuration["webhooks"]
    target = hook["clientConfig"]["service"]
    service = objects[("Service", target["name"])]
    assert (service["metadata"]["namespace"], target["path"]) == (target["namespace"], "/admission")
    (port,) = [p for p in service["spec"]["ports"] if p["port"] == target["port"]]
    pod = objects[("Deployment", "qiskit-admission")]["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}

    namespace, name = configuration["metadata"]["annotations"][
        "cert-manager.io/inject-ca-from"
    ].split("/")
    certificate = objects[("Certificate", name)]
    assert certificate["metadata"]["namespace"] == namespace
    assert f"{target['name']}.{target['namespace']}.svc" in certificate["spec"]["dnsNames"]
    assert ("Issuer", certificate["spec"]["issuerRef"]["name"]) in objects
    secrets = {v["secret"]["secretName"] for v in pod["spec"]["volumes"] if "secret" in v}
    assert secrets == {certificate["spec"]["secretName"]}


def test_the_webhook_is_opt_in_and_not_in_the_main_kustomization(cluster: DevCluster) -> None:
    main = yaml.safe_load((KNATIVE / "kustomization.yaml").read_text())
    assert not [r for r in main["resources"] if r.startswith("webhook")]
    built = cluster.kubectl("kustomize", str(KNATIVE)).stdout
    kinds = {o["kind"] for o in yaml.safe_load_all(built) if o}
    assert "ValidatingWebhookConfiguration" not in kinds


def test_no_knative_service_sets_a_pod_field_knatives_webhook_refuses(
    knative_cluster: DevCluster,
) -> None:
    # The CRD schema admits any PodSpec field; Serving's webhook then refuses some
    # (pkg/apis/serving/fieldmask.go). automountServiceAccountToken: true is one: real
    # Knative refused knative/ for it (tests/knative/ applies knative/ for real).
    built = knative_cluster.kubectl("kustomize", str(KNATIVE)).stdout
    services = [o for o in yaml.safe_load_all(built) if o and o["kind"] == "Service"]
    knative_services = [s for s in services if s["apiVersion"].startswith("serving.knative.dev")]
    assert len(knative_services) == 3
    for service in knative_services:
        pod = service["spec"]["template"]["spec"]
        assert pod.get("automountServiceAccountToken", False) is False, service["metadata"]
