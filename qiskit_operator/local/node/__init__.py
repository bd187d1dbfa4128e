"""A real Kubernetes node on this machine: kubelet, containerd, kube-proxy,
kube-scheduler and CoreDNS beside the dev control plane, all inside one network
namespace, and the functions as pods (`qop dev up --node`, tests/node/)."""
