"""The node daemons' configuration files, written under the node's state directory.

containerd gets a root, state and socket of its own (any other containerd on the
machine is left alone), our pause image as the sandbox image, and
`restrict_oom_score_adj`: this VM grants no CAP_SYS_RESOURCE, and runc fails every
sandbox that tries to lower its OOM score. kubelet runs on the host's cgroup v1
hierarchy under a cgroup root of its own, with its logs under the state directory
and a resolv.conf that names no outside resolver. kube-proxy touches no global
sysctl (conntrack settings zeroed). Used by local/node/node.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from qiskit_operator.local.node.network import DNS_ADDRESS, NODE_ADDRESS, POD_CIDR

PAUSE_IMAGE = "dev.local/qiskit-operator/pause:v1"
NODE_NAME = "qop-node"


@dataclass(frozen=True, slots=True)
class NodeState:
    """Where everything of one node lives; deleting `root` deletes the node."""

    root: Path

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def cgroup_name(self) -> str:
        return f"qop-node-{self.root.name}"


def containerd_config(state: NodeState) -> Path:
    base = state.root / "containerd"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    text = f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{state.containerd_socket}"

[ttrpc]
  address = "{base / "containerd.sock.ttrpc"}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{base / "opt"}"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_cdi = false
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{state.cni_conf_dir}"
"""
    path = base / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cni_config(state: NodeState) -> Path:
    config = {
        "cniVersion": "0.4.0",
        "name": "qop-pods",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "qop-cni0",
                "isGateway": True,
                "ipMasq": False,  # nothing leaves the namespace to masquerade for
                "hairpinMode": True,  # a pod reaches itself through its Service
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(state.root / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    state.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    path = state.cni_conf_dir / "10-qop-pods.conflist"
    path.write_text(json.dumps(config, indent=2))
    return path


def kubelet_config(state: NodeState) -> Path:
    resolv = state.root / "resolv.conf"
    # Pods with the cluster's DNS never read it; those on the host network would.
    resolv.write_text("nameserver 127.0.0.1\n")
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # Only the API server, inside the node's namespace, can reach this port.
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{state.cgroup_name}",
        "failCgroupV1": False,
        "failSwapOn": False,
        "evictionHard": {},
        "clusterDNS": [DNS_ADDRESS],
        "clusterDomain": "cluster.local",
        "resolvConf": str(resolv),
        "podLogsDir": str(state.pod_logs),
        "podCIDR": POD_CIDR,
        "readOnlyPort": 0,
        "address": NODE_ADDRESS,
        "healthzBindAddress": "127.0.0.1",
        "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100,
        "containerRuntimeEndpoint": f"unix://{state.containerd_socket}",
        "staticPodPath": "",
        "registerNode": True,
        "maxPods": 250,
    }
    path = state.kubelet_dir / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def kube_proxy_config(state: NodeState, kubeconfig: Path) -> Path:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_ADDRESS,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # Zero: leave the conntrack table and its timeouts (global sysctls) alone.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
            "udpTimeout": "0s",
            "udpStreamTimeout": "0s",
        },
        "iptables": {"localhostNodePorts": False},
    }
    path = state.root / "kube-proxy.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
