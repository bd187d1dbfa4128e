"""A one-node Kubernetes cluster on this machine, in a network namespace of its own.

`Node.start` makes the namespace, starts the dev control plane in it (on the node's
address, every controller on), containerd with the node's images, kubelet,
kube-proxy and kube-scheduler as host processes there, and CoreDNS as a pod; it
returns once the node is Ready and DNS answers. `Node.stop` removes the pods first
(so CNI tears their networks down), stops every process it started by PID, unmounts
what kubelet and containerd mounted, deletes the namespace (bridges, veths and
kube-proxy's rules with it) and puts back what kubelet changed on the host
(local/node/footprint.py). Used by `qop dev up --node`, tests/node/ and
benchmarks/cluster.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from qiskit_operator.local.devcluster import (
    BUILD_SCRIPT,
    REPO,
    Binaries,
    ClusterError,
    DevCluster,
    versions,
)
from qiskit_operator.local.node import configs
from qiskit_operator.local.node.coredns import coredns_manifest
from qiskit_operator.local.node.footprint import Footprint, cgroup_dirs, unmount_under
from qiskit_operator.local.node.images import (
    COREDNS_IMAGE,
    import_archives,
    system_images,
)
from qiskit_operator.local.node.network import NODE_ADDRESS, SERVICE_CIDR, NodeNetwork


@dataclass(frozen=True, slots=True)
class NodeBinaries:
    """The control plane's binaries and what a node adds (build.sh node)."""

    control_plane: Binaries
    kubelet: Path
    kube_proxy: Path
    kube_scheduler: Path
    coredns: Path
    pause: Path

    @classmethod
    def build(cls) -> NodeBinaries:
        control_plane = Binaries.build(with_adapter=False)
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "node"], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ClusterError(f"building the node failed:\n{result.stderr[-3000:]}")
        root = Path(result.stdout.strip().splitlines()[-1])
        found = versions()
        node = root / f"kubernetes-node-{found['KUBERNETES_VERSION']}"
        return cls(
            control_plane=control_plane,
            kubelet=node / "kubelet",
            kube_proxy=node / "kube-proxy",
            kube_scheduler=node / "kube-scheduler",
            coredns=root / f"coredns-{found['COREDNS_VERSION']}" / "coredns",
            pause=root / f"pause-{found['PAUSE_VERSION']}" / "pause",
        )


def missing_tools() -> list[str]:
    """Host programs the node needs (Debian's containerd, runc, CNI plugins, ...)."""
    tools = ["containerd", "ctr", "runc", "nsenter", "ip", "iptables", "mmdebstrap"]
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not Path("/usr/lib/cni/bridge").exists():
        missing.append("/usr/lib/cni/bridge (containernetworking-plugins)")
    return missing


@dataclass
class Node:
    binaries: NodeBinaries
    state: configs.NodeState = field(
        default_factory=lambda: configs.NodeState(Path(tempfile.mkdtemp(prefix="qop-node-")))
    )
    network: NodeNetwork = field(init=False)
    cluster: DevCluster = field(init=False)
    _footprint: Footprint | None = None

    def __post_init__(self) -> None:
        self.network = NodeNetwork(f"qop-node-{self.state.root.name[-8:]}")
        self.cluster = DevCluster(
            self.state.root / "cluster",
            self.binaries.control_plane,
            netns=self.network.path,
            address=NODE_ADDRESS,
            service_cidr=SERVICE_CIDR,
            controllers="*",
        )

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(*args, stdin=stdin, check=check, timeout=timeout)

    def ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ctr", "--address", str(self.state.containerd_socket), "-n", "k8s.io", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    def start(self, timeout: float = 300) -> Node:
        self._footprint = Footprint.record()
        self.network.create()
        self._make_cgroup_root()
        self.cluster.start()
        self.kubectl("apply", "-f", str(REPO / "crds"))
        self._start_containerd(timeout)
        import_archives(
            self.state.containerd_socket,
            [
                a.path
                for a in system_images(self.binaries.pause, self.binaries.coredns, self._work())
            ],
        )
        self._start_kubelet()
        self.cluster.spawn(
            "kube-proxy",
            [
                str(self.binaries.kube_proxy),
                "--config",
                str(configs.kube_proxy_config(self.state, self.cluster.kubeconfig)),
            ],
        )
        self.cluster.spawn(
            "kube-scheduler",
            [
                str(self.binaries.kube_scheduler),
                "--kubeconfig",
                str(self.cluster.kubeconfig),
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
            ],
        )
        self._wait_node_ready(timeout)
        self.kubectl("apply", "-f", "-", stdin=coredns_manifest(COREDNS_IMAGE))
        self.kubectl(
            "-n",
            "kube-system",
            "rollout",
            "status",
            "deployment/coredns",
            f"--timeout={timeout:.0f}s",
            timeout=timeout + 10,
        )
        return self

    def _wait_node_ready(self, timeout: float) -> None:
        """kubelet registers the node first; `kubectl wait` needs it to exist."""
        deadline = time.monotonic() + timeout
        while True:
            ready = self.kubectl(
                "get",
                "node",
                configs.NODE_NAME,
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                check=False,
            )
            if ready.stdout == "True":
                return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"the node was not Ready in {timeout:g} s\n{self.cluster.log_tails()}"
                )
            time.sleep(0.2)

    def _work(self) -> Path:
        work = self.state.root / "images"
        work.mkdir(exist_ok=True)
        return work

    def _make_cgroup_root(self) -> None:
        """kubelet wants its cgroup root to exist in every hierarchy; a new cpuset
        starts with no CPUs or memory nodes, so it gets its parent's."""
        for directory in cgroup_dirs(self.state.cgroup_name):
            directory.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if (directory / name).exists():
                    (directory / name).write_text((directory.parent / name).read_text())

    def _start_containerd(self, timeout: float) -> None:
        configs.cni_config(self.state)
        config = configs.containerd_config(self.state)
        self.cluster.spawn("containerd", ["containerd", "--config", str(config)])
        deadline = time.monotonic() + timeout
        while self.ctr("version").returncode != 0:
            if time.monotonic() > deadline:
                raise ClusterError(f"containerd did not start\n{self.cluster.log_tails()}")
            time.sleep(0.2)

    def _start_kubelet(self) -> None:
        config = configs.kubelet_config(self.state)
        self.cluster.spawn(
            "kubelet",
            [
                str(self.binaries.kubelet),
                "--config",
                str(config),
                "--kubeconfig",
                str(self.cluster.kubeconfig),
                "--root-dir",
                str(self.state.kubelet_dir),
                "--cert-dir",
                str(self.state.kubelet_dir / "pki"),
                "--hostname-override",
                configs.NODE_NAME,
                "--node-ip",
                NODE_ADDRESS,
            ],
        )

    def stop(self) -> list[str]:
        """Stop it all and clean up; what could not be put back, as messages."""
        problems: list[str] = []
        try:
            self._remove_pods()
        except (ClusterError, subprocess.TimeoutExpired) as error:
            problems.append(f"pods not removed through the API: {error}")
        self._kill_tasks()
        self.cluster.stop()
        self._kill_shims()
        unmount_under(self.state.root)
        self.network.delete()
        if self._footprint is not None:
            problems.extend(self._footprint.restore(self.state.cgroup_name))
        return problems

    def remove(self) -> None:
        unmount_under(self.state.root)
        shutil.rmtree(self.state.root, ignore_errors=True)

    def _remove_pods(self, timeout: float = 90) -> None:
        """Through the API, so that kubelet stops each pod and CNI removes its network."""
        if self.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode != 0:
            return
        self.kubectl("delete", "deployments,replicasets", "--all", "-A", "--wait=false", timeout=60)
        self.kubectl(
            "delete", "pods", "--all", "-A", "--wait=false", "--grace-period=5", timeout=60
        )
        start = time.monotonic()
        forced = False
        names = ""
        while time.monotonic() - start < timeout:
            left = self.kubectl("get", "pods", "-A", "-o", "name", check=False, timeout=30)
            names = " ".join(left.stdout.split()) if left.returncode == 0 else names
            if left.returncode == 0 and not names:
                return
            if not forced and time.monotonic() - start > timeout / 3:
                # A kubelet slow to confirm each stop (two busy cores, a controller that
                # recreated a pod before it went): the API objects go now, and what still
                # runs is killed through containerd next (`_kill_tasks`).
                self.kubectl(
                    "delete", "pods", "--all", "-A", "--grace-period=0", "--force",
                    "--wait=false", check=False, timeout=60,
                )  # fmt: skip
                forced = True
            time.sleep(0.5)
        raise ClusterError(f"pods still there after {timeout:g} s: {names[:500]}")

    def _kill_tasks(self) -> None:
        """Containers kubelet did not get to stop, killed through containerd."""
        listed = self.ctr("tasks", "ls", "-q")
        for task in listed.stdout.split() if listed.returncode == 0 else []:
            self.ctr("tasks", "kill", "-s", "SIGKILL", task)
            self.ctr("tasks", "delete", "-f", task)

    def _kill_shims(self) -> None:
        """containerd's shims outlive it by design; ours name our socket."""
        socket = str(self.state.containerd_socket).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and socket in argv:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)
