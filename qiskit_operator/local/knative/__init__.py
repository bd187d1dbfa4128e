"""Knative Serving and Eventing for real, on the one-node cluster (local/node/).

Built from their Go modules, installed from the modules' own manifests, with
Traefik as the ingress, then knative/ applied with only an image overlay.
Used by `qop dev up --knative`, tests/knative/ and benchmarks/knative.py;
docs/knative.md says why each piece is as it is.
"""
