"""Traefik as Knative Serving's ingress, a host process in the node's network namespace.

Every Envoy-based Knative ingress (Kourier, Contour, Istio, Envoy Gateway) needs the
Envoy binary, which nothing here can build or pull; Traefik is pure Go and has a
Knative provider of its own that reads KIngress objects directly
(`--experimental.knative`). It listens on the node's address, one entrypoint for
public and cluster-local routes alike (Host rules tell them apart), and reaches
each revision through its Service's ClusterIP (kube-proxy's rules in the
namespace). A selector-less Service `knative-serving/traefik`, whose
EndpointSlice names the node's address, is what Knative writes into each
KIngress's status and what in-cluster names of Knative Services resolve to
(ExternalName -> traefik.knative-serving.svc.cluster.local).

Its read and write timeouts are off: an execute request lasts as long as its
simulation (up to the Service's 600 s timeoutSeconds), past Traefik's 60 s default.
Used by local/knative/install.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from qiskit_operator.local.devcluster import DevCluster
from qiskit_operator.local.node.network import NODE_ADDRESS

INGRESS_CLASS = "traefik.ingress.networking.knative.dev"
SERVICE = "traefik"
NAMESPACE = "knative-serving"
HTTP_PORT = 80
PING_PORT = 9000


def service_manifests() -> str:
    """The Service Knative names as the ingress's address, and its one endpoint."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": HTTP_PORT}]},
    }
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{SERVICE}-node",
            "namespace": NAMESPACE,
            "labels": {"kubernetes.io/service-name": SERVICE},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": HTTP_PORT, "protocol": "TCP"}],
        "endpoints": [{"addresses": [NODE_ADDRESS], "conditions": {"ready": True}}],
    }
    return yaml.safe_dump_all([service, endpoints])


def start(cluster: DevCluster, traefik: Path) -> subprocess.Popen[bytes]:
    """Traefik in the node's namespace, watching KIngresses with the admin kubeconfig."""
    argv = [
        str(traefik),
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--log.level=INFO",
        f"--entrypoints.web.address={NODE_ADDRESS}:{HTTP_PORT}",
        "--entrypoints.web.transport.respondingTimeouts.readTimeout=0",
        "--entrypoints.web.transport.respondingTimeouts.writeTimeout=0",
        f"--entrypoints.ping.address=127.0.0.1:{PING_PORT}",
        "--ping=true",
        "--ping.entrypoint=ping",
        "--experimental.knative=true",
        "--providers.knative=true",
        "--providers.knative.publicEntrypoints=web",
        "--providers.knative.privateEntrypoints=web",
        f"--providers.knative.publicService.name={SERVICE}",
        f"--providers.knative.publicService.namespace={NAMESPACE}",
        f"--providers.knative.privateService.name={SERVICE}",
        f"--providers.knative.privateService.namespace={NAMESPACE}",
    ]
    return cluster.spawn("traefik", ["env", f"KUBECONFIG={cluster.kubeconfig}", *argv])
