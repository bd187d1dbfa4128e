"""Knative on the one-node cluster, then the functions from knative/ with an image overlay.

`install` imports Knative's images into the node's containerd, applies Serving
(CRDs first, then the rest), points it at Traefik (ingress.py) with a local domain,
turns on the two PVC feature flags docs/install.md asks for, applies Eventing with
the in-memory channel and the channel-based Broker, and merges
knative/eventing-features.yaml into config-features as docs/install.md says.
`deploy_functions` applies crds/ and `kubectl apply -k` of an overlay whose only
changes to knative/ are what a two-core test node needs: the images, smaller
requests, and (when asked) a short scale-to-zero window. Used by `qop dev up
--knative`, tests/knative/ and benchmarks/knative.py; docs/knative.md.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

import yaml

from qiskit_operator.local.devcluster import REPO, ClusterError, versions
from qiskit_operator.local.knative import ingress, manifests
from qiskit_operator.local.knative.release import Release
from qiskit_operator.local.node.functions import NAMESPACE, function_images, results_volume
from qiskit_operator.local.node.images import FUNCTIONS, import_archives
from qiskit_operator.local.node.node import Node

DOMAIN = "knative.qop.test"
SERVING = "knative-serving"
EVENTING = "knative-eventing"
KSVCS = tuple(f"qiskit-{name}" for name in FUNCTIONS)
# What the test node's overlay gives each function instead of knative/'s requests:
# two cores and 24 GiB for Knative, three functions and their scale-out.
TEST_REQUESTS = {"cpu": "50m", "memory": "256Mi"}


@dataclass
class Knative:
    """Knative Serving and Eventing on `node`, and Traefik beside it."""

    node: Node
    release: Release

    def install(self, timeout: float = 600) -> Knative:
        work = self.node.state.root / "knative-images"
        import_archives(self.node.state.containerd_socket, self.release.image_archives(work))
        found = versions()
        self._apply_in_order(
            manifests.serving(self.release.serving_version, found["KNATIVE_NETWORKING_VERSION"])
        )
        self._configure_serving()
        self.node.kubectl("apply", "-f", "-", stdin=ingress.service_manifests())
        ingress.start(self.node.cluster, self.release.traefik)
        self._rollout(SERVING, timeout)
        self._apply_in_order(manifests.eventing(self.release.eventing_version))
        self.node.kubectl(
            "patch",
            "configmap/config-features",
            "-n",
            EVENTING,
            "--type",
            "merge",
            "--patch-file",
            str(REPO / "knative" / "eventing-features.yaml"),
        )
        self._rollout(EVENTING, timeout)
        return self

    def quiesce(self) -> None:
        """Before the node stops: no admission webhook left to call once its pod is
        gone, and no Knative controller left to bring back the workloads that
        Node.stop deletes (revisions' Deployments, the source's adapter)."""
        self.node.kubectl(
            "delete",
            "validatingwebhookconfigurations,mutatingwebhookconfigurations",
            "--all",
            check=False,
            timeout=60,
        )
        for namespace in (SERVING, EVENTING):
            self.node.kubectl(
                "delete",
                "deployments,statefulsets",
                "--all",
                "-n",
                namespace,
                "--wait=false",
                check=False,
                timeout=60,
            )

    def _apply_in_order(self, documents: list[manifests.Manifest]) -> None:
        """CRDs (and namespaces) first, established before what uses them."""
        first = [d for d in documents if d["kind"] in ("CustomResourceDefinition", "Namespace")]
        rest = [d for d in documents if d not in first]
        self.node.kubectl("apply", "--server-side", "-f", "-", stdin=manifests.as_yaml(first))
        self.node.kubectl(
            "wait", "--for=condition=Established", "crd", "--all", "--timeout=120s", timeout=130
        )
        # Webhook configurations name Services whose pods are not up yet; Knative's
        # webhooks fill in their own certificates and start admitting once running.
        self.node.kubectl("apply", "--server-side", "-f", "-", stdin=manifests.as_yaml(rest))

    def _configure_serving(self) -> None:
        patches = {
            "config-network": {"ingress-class": ingress.INGRESS_CLASS},
            "config-domain": {DOMAIN: ""},
            # docs/install.md: execute writes results to a PVC, reconcile reads them.
            "config-features": {
                "kubernetes.podspec-persistent-volume-claim": "enabled",
                "kubernetes.podspec-persistent-volume-write": "enabled",
            },
        }
        for name, data in patches.items():
            self._merge(SERVING, name, data)

    def _merge(self, namespace: str, configmap: str, data: dict[str, str]) -> None:
        self.node.kubectl(
            "patch",
            f"configmap/{configmap}",
            "-n",
            namespace,
            "--type",
            "merge",
            "-p",
            json.dumps({"data": data}),
        )

    def scale_to_zero_after(self, seconds: int) -> None:
        """Knative's cluster-wide scale-to-zero settings, shortened for tests (6 s is
        the least the autoscaler accepts): the grace period after the last request."""
        self._merge(SERVING, "config-autoscaler", {"scale-to-zero-grace-period": f"{seconds}s"})

    def _rollout(self, namespace: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        listed = self.node.kubectl("get", "deployments", "-n", namespace, "-o", "name")
        for deployment in listed.stdout.split():
            replicas = self.node.kubectl(
                "get", deployment, "-n", namespace, "-o", "jsonpath={.spec.replicas}"
            ).stdout
            if replicas == "0":  # the PingSource adapter waits for a PingSource
                continue
            left = max(deadline - time.monotonic(), 10)
            result = self.node.kubectl(
                "rollout",
                "status",
                deployment,
                "-n",
                namespace,
                f"--timeout={left:.0f}s",
                check=False,
                timeout=left + 10,
            )
            if result.returncode != 0:
                raise ClusterError(
                    f"{namespace}/{deployment} did not become available: {result.stderr}\n"
                    f"{self.node.cluster.log_tails()}"
                )

    def deploy_functions(
        self,
        window_seconds: int | None = None,
        resync_after_seconds: int | None = None,
        timeout: float = 600,
    ) -> str:
        """The functions' images loaded, the results volume, crds/ and knative/ through
        the test overlay; waits for the Services, Broker and Triggers. The images' tag."""
        work = self.node.state.root / "images"
        work.mkdir(exist_ok=True)
        archive = function_images(work)
        import_archives(self.node.state.containerd_socket, [archive.path])
        self.node.kubectl("apply", "-f", str(REPO / "crds"))
        self.node.kubectl("create", "namespace", NAMESPACE, check=False)
        volume = results_volume(self.node.state.root / "results")
        self.node.kubectl("apply", "-f", "-", stdin=volume)
        overlay = self.node.state.root / "knative-overlay"
        overlay.mkdir(exist_ok=True)
        kustomization = overlay_for_tests(
            os.path.relpath(REPO / "knative", overlay),
            archive.name,
            window_seconds,
            resync_after_seconds,
        )
        (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        self.node.kubectl("apply", "-k", str(overlay))
        self.wait_ready(timeout)
        return archive.name

    def wait_ready(self, timeout: float) -> None:
        for kind in ("ksvc", "broker", "trigger", "apiserversource", "pingsource"):
            result = self.node.kubectl(
                "wait",
                kind,
                "--all",
                "-n",
                NAMESPACE,
                "--for=condition=Ready",
                f"--timeout={timeout:.0f}s",
                check=False,
                timeout=timeout + 10,
            )
            if result.returncode != 0:
                described = self.node.kubectl("get", kind, "-n", NAMESPACE, "-o", "yaml").stdout
                raise ClusterError(f"{kind} not Ready: {result.stderr}\n{described[-4000:]}")


def overlay_for_tests(
    base: str, tag: str, window_seconds: int | None, resync_after_seconds: int | None
) -> dict[str, Any]:
    """knative/ with the local images and TEST_REQUESTS; optionally a short
    autoscaling window, and the resync ping every minute for jobs older than
    `resync_after_seconds` (knative/: every five minutes, for jobs older than 60 s)."""
    patches: list[dict[str, Any]] = []
    if resync_after_seconds is not None:
        patches.append(
            {
                "target": {"group": "sources.knative.dev", "kind": "PingSource"},
                "patch": yaml.safe_dump(
                    [{"op": "replace", "path": "/spec/schedule", "value": "* * * * *"}]
                ),
            }
        )
        patches.append(
            {
                "target": {
                    "group": "serving.knative.dev",
                    "kind": "Service",
                    "name": "qiskit-reconcile",
                },
                "patch": yaml.safe_dump(
                    [
                        {
                            "op": "add",
                            "path": "/spec/template/spec/containers/0/env/-",
                            "value": {
                                "name": "QOP_RESYNC_AFTER_SECONDS",
                                "value": str(resync_after_seconds),
                            },
                        }
                    ]
                ),
            }
        )
    for ksvc in KSVCS:
        ops: list[dict[str, Any]] = [
            {
                "op": "replace",
                "path": f"/spec/template/spec/containers/0/resources/requests/{resource}",
                "value": value,
            }
            for resource, value in TEST_REQUESTS.items()
        ]
        if window_seconds is not None:
            ops.append(
                {
                    "op": "add",
                    "path": "/spec/template/metadata/annotations/autoscaling.knative.dev~1window",
                    "value": f"{window_seconds}s",
                }
            )
        patches.append(
            {
                "target": {"group": "serving.knative.dev", "kind": "Service", "name": ksvc},
                "patch": yaml.safe_dump(ops),
            }
        )
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [base],
        "images": [
            {
                "name": f"ghcr.io/qiskit-operator/{name}",
                "newName": f"dev.local/qiskit-operator/{name}",
                "newTag": tag,
            }
            for name in FUNCTIONS
        ],
        "patches": patches,
    }
