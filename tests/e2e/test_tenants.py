"""Two tenants, two namespaces, one operator: neither reaches the other's circuits or
results through it. Each tenant is a ServiceAccount that may create QiskitJobs and read
ConfigMaps in its own namespace only, and acts here with its own token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from qiskit_operator.local.stack import Stack
from tests.conftest import ROOT, example

TENANT_RBAC = """
apiVersion: v1
kind: ServiceAccount
metadata: {{name: tenant, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: tenant, namespace: {ns}}}
rules:
  - apiGroups: [quantum.io]
    resources: [qiskitjobs]
    verbs: [create, get, list, watch, patch, delete]
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: tenant, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: tenant}}
subjects: [{{kind: ServiceAccount, name: tenant, namespace: {ns}}}]
"""


@dataclass
class Tenant:
    stack: Stack
    namespace: str
    kubeconfig: Path

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> Any:
        # The tenant's namespace unless `args` name another (the last -n wins).
        return self.stack.cluster.kubectl(
            "-n", self.namespace, *args, kubeconfig=self.kubeconfig, stdin=stdin, check=check
        )

    def apply(self, name: str, check: bool = True, **spec: Any) -> Any:
        manifest = example("bell.yaml")
        manifest["metadata"] = {"name": name, "namespace": self.namespace}
        manifest["spec"].update(spec)
        return self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(manifest), check=check)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.kubectl("get", kind, name, "-o", "json").stdout)
        return found

    def wait(self, name: str, phase: str) -> dict[str, Any]:
        waited = self.kubectl(
            "wait",
            f"--for=jsonpath={{.status.phase}}={phase}",
            f"qjob/{name}",
            "--timeout=90s",
            check=False,
        )
        job = self.get("qjob", name)
        assert waited.returncode == 0, f"{name}: {job.get('status')}\n{self.stack.logs()}"
        return job


@pytest.fixture(scope="module")
def tenants(stack: Stack) -> Iterator[tuple[Tenant, Tenant]]:
    made = []
    for ns in ("tenant-a", "tenant-b"):
        stack.kubectl("create", "namespace", ns)
        stack.kubectl("apply", "-f", "-", stdin=TENANT_RBAC.format(ns=ns))
        stack.kubectl(
            "create",
            "configmap",
            f"{ns}-circuits",
            "-n",
            ns,
            "--from-file",
            f"bell.qasm={ROOT / 'tests' / 'e2e' / 'bell.qasm'}",
        )
        made.append(Tenant(stack, ns, stack.cluster.service_account_kubeconfig(ns, "tenant")))
    yield made[0], made[1]
    for ns in ("tenant-a", "tenant-b"):
        stack.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_each_tenant_reads_only_its_own_configmaps(tenants: tuple[Tenant, Tenant]) -> None:
    a, b = tenants
    assert a.get("configmap", "tenant-a-circuits")["data"]["bell.qasm"].startswith("OPENQASM")
    refused = a.kubectl("get", "configmap", "tenant-b-circuits", "-n", "tenant-b", check=False)
    assert refused.returncode != 0 and "Forbidden" in refused.stderr
    refused = b.kubectl("get", "qjob", "-n", "tenant-a", check=False)
    assert refused.returncode != 0 and "Forbidden" in refused.stderr


def test_a_circuit_source_cannot_name_another_tenants_configmap(
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, _ = tenants
    foreign = {"name": "tenant-b-circuits", "key": "bell.qasm", "namespace": "tenant-b"}
    refused = a.apply(
        "reach-b", circuit={"source": "configmap", "configMapRef": foreign}, check=False
    )
    assert refused.returncode != 0 and 'unknown field "spec.circuit.configMapRef.namespace"' in (
        refused.stderr
    )
    # The name alone is looked up in the job's own namespace, where it does not exist.
    del foreign["namespace"]
    a.apply("by-name", circuit={"source": "configmap", "configMapRef": foreign})
    job = a.wait("by-name", "Failed")
    assert "ConfigMap tenant-a/tenant-b-circuits does not exist" in job["status"]["message"]
    own = {"name": "tenant-a-circuits", "key": "bell.qasm"}
    a.apply("own-source", circuit={"source": "configmap", "configMapRef": own})
    a.wait("own-source", "Completed")


def test_an_output_path_that_escapes_its_namespace_is_refused_at_apply(
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, _ = tenants
    for path in ("../tenant-b/stolen.json", "/results/tenant-b/stolen.json"):
        refused = a.apply("escape", output={"type": "pvc", "path": path}, check=False)
        assert refused.returncode != 0, refused.stdout
        assert "output.path must be a relative path inside the job's own results" in (
            refused.stderr
        )
    refused = a.apply("escape", output={"location": "tenant-b/results"}, check=False)
    assert refused.returncode != 0 and "output.location must be the name of an object" in (
        refused.stderr
    )


def test_an_output_path_naming_the_other_tenants_result_file_is_confined(
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, b = tenants
    b.apply("b-file", output={"type": "pvc"})
    theirs = Path(urlsplit(b.wait("b-file", "Completed")["status"]["results"]["location"]).path)
    before = theirs.read_bytes()
    root = theirs.parent.parent  # <results>/tenant-b/<file>
    named = str(theirs.relative_to(root))  # "tenant-b/b-file-....json": exactly B's file
    a.apply("a-file", output={"type": "pvc", "path": named})
    mine = Path(urlsplit(a.wait("a-file", "Completed")["status"]["results"]["location"]).path)
    assert mine == root / "tenant-a" / named
    assert theirs.read_bytes() == before


def test_an_output_location_naming_the_other_tenants_configmap_stays_in_its_own(
    tenants: tuple[Tenant, Tenant],
) -> None:
    a, b = tenants
    b.apply("b-map", output={"type": "configmap"})
    b.wait("b-map", "Completed")
    theirs = b.get("configmap", "b-map-results")
    a.apply("a-map", output={"type": "configmap", "location": "b-map-results"})
    job = a.wait("a-map", "Completed")
    assert job["status"]["results"]["location"] == "configmap://tenant-a/b-map-results"
    mine = a.get("configmap", "b-map-results")
    assert mine["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    assert b.get("configmap", "b-map-results") == theirs
