"""deploy/without-knative/ (the functions as Deployments on any cluster, and on the
node tier): it renders with kubectl's kustomize, a real API server takes every
object, each Deployment runs the very container its Knative Service does, and its
OIDC identities are what the dev stack makes from knative/triggers.yaml."""

from __future__ import annotations

from typing import Any

import yaml

from qiskit_operator.auth import identities
from qiskit_operator.local.devcluster import DevCluster
from qiskit_operator.local.oidc import KNATIVE, identities_manifest
from qiskit_operator.routing.triggers import load_triggers
from tests.conftest import ROOT

OVERLAY = ROOT / "deploy" / "without-knative"
# What a Deployment must say that Knative infers: $PORT and the probes' port; and
# the startup probe the overlay adds (its kustomization says why).
INFERRED = {"PORT"}
# What the overlay points elsewhere: execute's progress goes to the overlay's Broker.
RETARGETED = {"QOP_PROGRESS_SINK": "http://qiskit-broker.qiskit-operator.svc.cluster.local/"}


def _rendered(cluster: DevCluster) -> list[dict[str, Any]]:
    text = cluster.kubectl("kustomize", str(OVERLAY)).stdout
    return [document for document in yaml.safe_load_all(text) if document]


def _knative_containers() -> dict[str, dict[str, Any]]:
    with (KNATIVE / "services.yaml").open() as stream:
        return {
            d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
            for d in yaml.safe_load_all(stream)
            if d and d["kind"] == "Service"
        }


def _without_inferred(container: dict[str, Any]) -> dict[str, Any]:
    copy = yaml.safe_load(yaml.safe_dump(container))
    copy["env"] = [e for e in copy.get("env", []) if e["name"] not in INFERRED | set(RETARGETED)]
    for port in copy.get("ports", []):
        port.pop("name", None)
    for probe in ("readinessProbe", "livenessProbe"):
        copy.get(probe, {}).get("httpGet", {}).pop("port", None)
    copy.pop("startupProbe", None)
    return copy


def test_the_overlay_applies_to_a_real_api_server_without_knative(cluster: DevCluster) -> None:
    text = cluster.kubectl("kustomize", str(OVERLAY)).stdout
    applied = cluster.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=text
    )
    rendered = _rendered(cluster)
    groups = {d["apiVersion"].rpartition("/")[0] for d in rendered}
    assert not {g for g in groups if g.endswith("knative.dev")}, groups
    assert {"Deployment", "Service", "PersistentVolumeClaim"} <= {d["kind"] for d in rendered}
    assert applied.stdout.count("(server dry run)") == len(rendered)


def test_each_deployment_runs_the_container_of_its_knative_service(cluster: DevCluster) -> None:
    knative = _knative_containers()
    deployments = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in _rendered(cluster)
        if d["kind"] == "Deployment" and d["metadata"]["name"] in knative
    }
    assert set(deployments) == set(knative)
    for name, pod in deployments.items():
        assert _without_inferred(pod["containers"][0]) == _without_inferred(knative[name]), name


def test_executes_progress_goes_to_the_overlays_broker(cluster: DevCluster) -> None:
    (execute,) = [
        d
        for d in _rendered(cluster)
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "qiskit-execute"
    ]
    env = execute["spec"]["template"]["spec"]["containers"][0]["env"]
    sinks = [e.get("value") for e in env if e["name"] == "QOP_PROGRESS_SINK"]
    assert sinks == [RETARGETED["QOP_PROGRESS_SINK"]]  # replaced, not added beside


def test_the_overlay_makes_the_oidc_identities_the_dev_stack_makes() -> None:
    triggers = load_triggers(KNATIVE / "triggers.yaml")
    expected = list(yaml.safe_load_all(identities_manifest(triggers)))
    with (OVERLAY / "identities.yaml").open() as stream:
        assert [d for d in yaml.safe_load_all(stream) if d] == expected
    with (OVERLAY / "broker.yaml").open() as stream:
        role = next(d for d in yaml.safe_load_all(stream) if d["kind"] == "Role")
    assert sorted(role["rules"][0]["resourceNames"]) == sorted(
        identities.oidc_service_account(identities.TRIGGER, t.name) for t in triggers
    )
