"""A real Kubernetes control plane on loopback, without containers.

etcd, kube-apiserver and kube-controller-manager (its garbage collector deletes
what a job owns; its token controllers serve ServiceAccounts), built from their
Go modules by controlplane/build.sh and cached by version, run as processes on
127.0.0.1 as controller-runtime's envtest does: RBAC on, service-account tokens
signed with a key made here, TLS as the apiserver sets it up, and an admin token.
Used by the e2e tests (a session fixture) and by `qop dev cluster`; the node tier
(local/node/) starts the same control plane inside a network namespace, on the
node's address, with every controller a Deployment needs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from qiskit_operator import package_files
from qiskit_operator.errors import OperatorError

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "controlplane" / "build.sh"
SERVICE_CIDR = "10.0.0.0/24"  # never contacted: the API server only allocates Service IPs
ISSUER = "https://kubernetes.default.svc.cluster.local"


def versions() -> dict[str, str]:
    """controlplane/versions.env: each component's version, the one place they are set."""
    return dict(
        line.split("=", 1)
        for line in (REPO / "controlplane" / "versions.env").read_text().splitlines()
        if line and not line.startswith("#")
    )


class ClusterError(OperatorError):
    """The control plane could not be built or started."""


@dataclass(frozen=True, slots=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path
    adapter: Path | None

    @classmethod
    def build(cls, with_adapter: bool = False) -> Binaries:
        """Build what is missing (minutes, once per version), then find everything."""
        if package_files.checkout() is None:
            raise ClusterError(
                "qop dev needs a checkout of the qiskit-operator repository: it builds etcd "
                "and Kubernetes from their Go modules with controlplane/build.sh, which the "
                "installed package does not carry. Clone the repository, `pip install -e .` "
                "there and run `qop dev up` from it; `qop run JOB.yaml` needs no cluster."
            )
        parts = ["etcd", "kubernetes"] + (["adapter"] if with_adapter else [])
        bin_dir = ""
        for part in parts:
            result = subprocess.run(
                ["bash", str(BUILD_SCRIPT), part], capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                raise ClusterError(f"building {part} failed:\n{result.stderr[-3000:]}")
            bin_dir = result.stdout.strip().splitlines()[-1]
        found = versions()
        root = Path(bin_dir)
        kube = root / f"kubernetes-{found['KUBERNETES_VERSION']}"
        adapter = (
            root
            / f"knative-eventing-{found['KNATIVE_EVENTING_VERSION']}"
            / "apiserver_receive_adapter"
        )
        return cls(
            etcd=root / f"etcd-{found['ETCD_VERSION']}" / "etcd",
            kube_apiserver=kube / "kube-apiserver",
            kube_controller_manager=kube / "kube-controller-manager",
            kubectl=kube / "kubectl",
            adapter=adapter if with_adapter else None,
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class DevCluster:
    """Start with `start()`, stop with `stop()`; `kubeconfig` is the admin's."""

    def __init__(
        self,
        workdir: Path,
        binaries: Binaries,
        *,
        netns: Path | None = None,
        address: str = "127.0.0.1",
        service_cidr: str = SERVICE_CIDR,
        controllers: str = "garbagecollector,namespace,serviceaccount,serviceaccount-token",
    ) -> None:
        self.workdir = workdir
        self.binaries = binaries
        self.kubeconfig = workdir / "admin.kubeconfig"
        # In a network namespace of its own every port is free; pods reach the API
        # server through the `kubernetes` Service, whose endpoint may not be loopback.
        self.netns = netns
        self.address = address
        self.service_cidr = service_cidr
        self.controllers = controllers
        self.api_port = 6443 if netns else free_port()
        self.server = f"https://{address}:{self.api_port}"
        self.ca_file = workdir / "pki" / "apiserver.crt"  # made by kube-apiserver at start
        self._processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[object] = []

    def in_netns(self, argv: list[str]) -> list[str]:
        """`argv` run in the cluster's network namespace (as it is, without one).
        nsenter rather than `ip netns exec`, which would also give the process a
        mount namespace of its own."""
        if self.netns is None:
            return argv
        return ["nsenter", f"--net={self.netns}", "--", *argv]

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start a process of the cluster's, logging to `name`.log; `stop` ends it."""
        log = (self.workdir / f"{name}.log").open("wb")
        self._logs.append(log)
        process = subprocess.Popen(
            self.in_netns(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._processes.append(process)
        return process

    def _write_credentials(self) -> str:
        pki = self.workdir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["openssl", "genrsa", "-out", str(pki / "sa.key"), "2048"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["openssl", "rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub")],
            check=True,
            capture_output=True,
        )
        token = secrets.token_hex(24)
        (pki / "tokens.csv").write_text(f'{token},admin,admin-uid,"system:masters"\n')
        return token

    def _write_kubeconfig(self, path: Path, user: str, token: str, namespace: str) -> Path:
        ca = self.workdir / "pki" / "apiserver.crt"
        cluster: dict[str, object] = {"server": self.server}
        if ca.exists():
            cluster["certificate-authority"] = str(ca)
        else:
            cluster["insecure-skip-tls-verify"] = True
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "qop",
            "clusters": [{"name": "qop", "cluster": cluster}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {"name": "qop", "context": {"cluster": "qop", "user": user, "namespace": namespace}}
            ],
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def start(self, timeout: float = 120.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        token = self._write_credentials()
        pki = self.workdir / "pki"
        etcd_port, peer_port = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        self.spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                "--data-dir",
                str(self.workdir / "etcd"),
                "--listen-client-urls",
                etcd_url,
                "--advertise-client-urls",
                etcd_url,
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-cluster",
                f"default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ],
        )
        self.spawn(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                "--etcd-servers",
                etcd_url,
                "--cert-dir",
                str(pki),
                "--secure-port",
                str(self.api_port),
                "--bind-address",
                self.address,
                "--service-cluster-ip-range",
                self.service_cidr,
                # A node's name does not resolve through the host's resolver: `kubectl
                # logs` goes to its address.
                "--kubelet-preferred-address-types=InternalIP",
                "--authorization-mode",
                "RBAC",
                "--token-auth-file",
                str(pki / "tokens.csv"),
                "--service-account-issuer",
                ISSUER,
                "--service-account-key-file",
                str(pki / "sa.pub"),
                "--service-account-signing-key-file",
                str(pki / "sa.key"),
                "--api-audiences",
                ISSUER,
                "--enable-priority-and-fairness=false",
                "--v=1",
            ],
        )
        self._write_kubeconfig(self.kubeconfig, "admin", token, "default")
        self._wait_ready(timeout)
        self._write_kubeconfig(self.kubeconfig, "admin", token, "default")  # now with the CA
        self.spawn(
            "kube-controller-manager",
            [
                str(self.binaries.kube_controller_manager),
                "--kubeconfig",
                str(self.kubeconfig),
                "--controllers",
                self.controllers,
                "--service-account-private-key-file",
                str(pki / "sa.key"),
                "--root-ca-file",
                str(pki / "apiserver.crt"),
                "--leader-elect=false",
                "--secure-port=0",
                "--concurrent-gc-syncs=5",
            ],
        )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise ClusterError(
                        f"a control-plane process ({process.pid}) exited with "
                        f"{process.returncode}\n{self.log_tails()}"
                    )
            ready = self.kubectl("get", "--raw", "/readyz", check=False)
            if ready.returncode == 0 and ready.stdout.strip() == "ok":
                return
            time.sleep(0.25)
        raise ClusterError(f"kube-apiserver was not ready in {timeout:g} s\n{self.log_tails()}")

    def log_tails(self, size: int = 1500) -> str:
        """The end of each control-plane log, for an error message that explains itself."""
        parts = []
        for log in sorted(self.workdir.glob("*.log")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-size:]}")
        return "\n".join(parts)

    def kubectl(
        self,
        *args: str,
        kubeconfig: Path | None = None,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.in_netns(
                [
                    str(self.binaries.kubectl),
                    "--kubeconfig",
                    str(kubeconfig or self.kubeconfig),
                    *args,
                ]
            ),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def service_account_kubeconfig(self, namespace: str, name: str) -> Path:
        """A kubeconfig that acts as ServiceAccount namespace/name, with a real token."""
        token = self.kubectl(
            "create", "token", name, "-n", namespace, "--duration", "2h"
        ).stdout.strip()
        return self._write_kubeconfig(
            self.workdir / f"{namespace}-{name}.kubeconfig",
            f"system:serviceaccount:{namespace}:{name}",
            token,
            namespace,
        )

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self._processes):
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        for log in self._logs:
            log.close()  # type: ignore[attr-defined]
        self._processes.clear()

    def remove(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
