"""knative/eventpolicies.yaml as the dev Broker reads it, and the audiences and
senders of knative/ agreeing with each other: who may send what, and to whom."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from qiskit_operator.auth import identities
from qiskit_operator.auth.policy import BrokerPolicy, PolicyError, load_broker_policy, parse_policy
from qiskit_operator.events import types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.local.oidc import (
    BROKER_AUDIENCE,
    JOB_SOURCE_IDENTITY,
    NAMESPACE,
    PING_IDENTITY,
    service_env,
)
from qiskit_operator.routing.senders import trigger_subject
from qiskit_operator.routing.triggers import load_triggers
from tests.conftest import ROOT

KNATIVE = ROOT / "knative"


def trigger(name: str) -> str:
    return identities.subject(NAMESPACE, identities.oidc_service_account(identities.TRIGGER, name))


VALIDATE = trigger("validate-job-changes")
EXECUTE = trigger("execute-validated-jobs")
RECONCILE_OUTCOMES = trigger("reconcile-job-outcomes")
JOB_SOURCE = identities.subject(NAMESPACE, JOB_SOURCE_IDENTITY)
PING = identities.subject(NAMESPACE, PING_IDENTITY)


@pytest.fixture(scope="module")
def policy() -> BrokerPolicy:
    return load_broker_policy(KNATIVE / "eventpolicies.yaml", "qiskit")


def event(type_: str) -> Envelope:
    return Envelope(type=type_, source="/tests")


def test_a_validated_event_from_validates_trigger_is_admitted(policy: BrokerPolicy) -> None:
    assert policy.admits(VALIDATE, event(types.JOB_VALIDATED))


@pytest.mark.parametrize("sender", [JOB_SOURCE, PING, EXECUTE, "system:serviceaccount:x:y"])
def test_a_validated_event_from_any_other_sender_is_refused(
    policy: BrokerPolicy, sender: str
) -> None:
    assert not policy.admits(sender, event(types.JOB_VALIDATED))


def test_reconciles_retry_may_send_validated_work_again(policy: BrokerPolicy) -> None:
    assert policy.admits(RECONCILE_OUTCOMES, event(types.JOB_VALIDATED))


def test_each_sender_may_send_only_its_own_event_types(policy: BrokerPolicy) -> None:
    assert policy.admits(JOB_SOURCE, event(types.APISERVER_ADD))
    assert policy.admits(PING, event(types.PING))
    assert policy.admits(EXECUTE, event(types.JOB_COMPLETED))
    assert not policy.admits(JOB_SOURCE, event(types.JOB_REJECTED))
    assert not policy.admits(VALIDATE, event(types.JOB_COMPLETED))
    assert not policy.admits(EXECUTE, event(types.APISERVER_UPDATE))
    assert not policy.admits(PING, event(types.APISERVER_DELETE))


def test_execute_itself_may_post_progress_and_nothing_else(policy: BrokerPolicy) -> None:
    execute = identities.subject(NAMESPACE, "qiskit-execute")
    assert policy.admits(execute, event(types.JOB_PROGRESSED))
    for other in (types.JOB_COMPLETED, types.JOB_FAILED, types.JOB_VALIDATED, types.JOB_FINISHED):
        assert not policy.admits(execute, event(other))
    assert not policy.admits(VALIDATE, event(types.JOB_PROGRESSED))
    assert not policy.admits(EXECUTE, event(types.JOB_PROGRESSED))


def test_executes_progress_token_is_for_the_brokers_audience() -> None:
    with (KNATIVE / "services.yaml").open() as stream:
        (execute,) = [
            d for d in yaml.safe_load_all(stream) if d and d["metadata"]["name"] == "qiskit-execute"
        ]
    spec = execute["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    token_file = service_env("qiskit-execute")["QOP_PROGRESS_TOKEN_FILE"]
    (mount,) = [m for m in container["volumeMounts"] if token_file.startswith(m["mountPath"])]
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    (source,) = volume["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == BROKER_AUDIENCE
    assert token_file == f"{mount['mountPath']}/{source['serviceAccountToken']['path']}"


def test_a_policy_naming_senders_by_reference_is_refused_with_a_reason() -> None:
    manifest = {
        "metadata": {"name": "by-ref"},
        "spec": {"from": [{"ref": {"kind": "ApiServerSource", "name": "x"}}]},
    }
    with pytest.raises(PolicyError, match=r"from\[\]\.sub"):
        parse_policy(manifest)


def test_each_trigger_names_the_audience_its_function_checks() -> None:
    for found in load_triggers(KNATIVE / "triggers.yaml"):
        checked = service_env(found.subscriber)["QOP_AUTH_AUDIENCE"]
        assert found.subscriber_audience == checked, found.name
        assert checked == identities.service_audience(NAMESPACE, found.subscriber)


def test_each_function_expects_the_triggers_that_deliver_to_it() -> None:
    triggers = load_triggers(KNATIVE / "triggers.yaml")
    for service in ("qiskit-validate", "qiskit-execute", "qiskit-reconcile"):
        expected = {
            s.strip() for s in service_env(service)["QOP_AUTH_SENDERS"].split(",") if s.strip()
        }
        delivering = {trigger_subject(t) for t in triggers if t.subscriber == service}
        # Dead letters come to reconcile from whichever Trigger could not deliver.
        if service == "qiskit-reconcile":
            delivering |= {trigger_subject(t) for t in triggers if t.delivery.dead_letter}
        assert expected == delivering, service


def test_the_sources_send_to_the_brokers_audience() -> None:
    for name in ("apiserversource.yaml", "pingsource.yaml"):
        manifest: dict[str, Any] = yaml.safe_load((KNATIVE / name).read_text())
        assert manifest["spec"]["sink"]["audience"] == BROKER_AUDIENCE, name


def test_execute_and_reconcile_are_cluster_local_and_validate_is_not() -> None:
    visibility = {}
    for document in yaml.safe_load_all((KNATIVE / "services.yaml").read_text()):
        if document and document["kind"] == "Service":
            labels = document["metadata"].get("labels", {})
            visibility[document["metadata"]["name"]] = labels.get(
                "networking.knative.dev/visibility"
            )
    assert visibility == {
        "qiskit-validate": None,
        "qiskit-execute": "cluster-local",
        "qiskit-reconcile": "cluster-local",
    }


def test_knative_eventing_features_turn_oidc_sender_identity_on() -> None:
    features = yaml.safe_load((KNATIVE / "eventing-features.yaml").read_text())
    assert (features["metadata"]["namespace"], features["metadata"]["name"]) == (
        "knative-eventing",
        "config-features",
    )
    assert features["data"] == {"authentication-oidc": "enabled"}


def test_validate_may_hold_a_sessions_job_and_only_reconcile_hears_of_it(
    policy: BrokerPolicy,
) -> None:
    assert policy.admits(VALIDATE, event(types.JOB_HELD))
    assert not policy.admits(EXECUTE, event(types.JOB_HELD))
    held = Envelope(type=types.JOB_HELD, source="/qiskit-operator/validate")
    routed = {t.name for t in load_triggers(KNATIVE / "triggers.yaml") if t.filter.matches(held)}
    assert routed == {"reconcile-job-outcomes"}
