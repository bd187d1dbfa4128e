# The two commands of the README: `make run` and `make test`.
# Everything lives in .venv; it is rebuilt when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint controlplane bench crds images images-stop test-images clean mutation node-test knative-test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/qop run examples/bell.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The e2e tests run a real kube-apiserver, etcd, kube-controller-manager and
# Knative's ApiServerSource adapter, built from their Go modules once per version
# (cached under ~/.cache/qiskit-operator). Without Go they skip; in CI they fail.
controlplane:
	@if command -v go >/dev/null 2>&1; then bash controlplane/build.sh all >/dev/null; \
	else echo "Go not found: the e2e tests will be skipped (and fail when CI=true)"; fi

# Every tier (tests/all.sh): the main suite, with the image, node and Knative tiers'
# builds running beside it, then the images, the node with the functions as pods,
# and real Knative on a node of its own.
test: lint controlplane
	bash tests/all.sh $(BIN)/pytest

# mutmut on status/transitions.py, kube/status.py and reconciling.py, one module at a
# time, with the unit tests alone; prints each module's score (goal: 90 %), leaving
# out the equivalent mutants listed in tests/mutation/equivalent.txt. Slow: minutes
# per module on one core (QOP_MUTATION_CHILDREN sets the workers).
mutation: $(STAMP)
	$(BIN)/python tests/mutation/run.py

# The node tier (tests/node/, docs/install.md): a real kubelet, containerd,
# kube-proxy, kube-scheduler and CoreDNS in a network namespace of its own, the
# functions as pods. Needs root and Debian's containerd, runc, CNI plugins and
# mmdebstrap (installed here when missing). `make test` runs it on the images
# `make images` builds; alone, it runs on stand-ins made without a container engine.
NODE_PACKAGES := containerd runc containernetworking-plugins mmdebstrap iptables
node-test: $(STAMP)
	@dpkg -s $(NODE_PACKAGES) >/dev/null 2>&1 || \
		(apt-get update -q && apt-get install -y -q $(NODE_PACKAGES))
	bash controlplane/build.sh all >/dev/null
	bash controlplane/build.sh node >/dev/null
	QOP_NODE_TESTS=1 $(BIN)/pytest tests/node -p no:cacheprovider --timeout 1800

# The Knative tier (tests/knative/, docs/knative.md): the node above with Knative
# Serving and Eventing built from their Go modules, Traefik as the ingress, and
# knative/ applied with only an image overlay. Needs what node-test needs, and curl.
knative-test: $(STAMP)
	@dpkg -s $(NODE_PACKAGES) curl >/dev/null 2>&1 || \
		(apt-get update -q && apt-get install -y -q $(NODE_PACKAGES) curl)
	bash controlplane/build.sh all >/dev/null
	bash controlplane/build.sh node >/dev/null
	bash controlplane/build.sh knative >/dev/null
	QOP_KNATIVE_TESTS=1 $(BIN)/pytest tests/knative -p no:cacheprovider --timeout 1800

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py

# The three function images for linux/amd64 and linux/arm64, built with docker buildx bake
# (docker-bake.hcl) on a toolchain built from its Go modules and a base from Debian
# packages, pushed to a registry on loopback and loaded as qiskit-operator/NAME:dev.
# The daemons stay up for `docker run`; `make images-stop` stops them (images/README.md).
images:
	bash images/build.sh

images-stop:
	bash images/daemons.sh stop

# The image tier alone (`make test` runs it too): build, push and load the images, run
# tests/images, stop what it started.
test-images: $(STAMP)
	bash images/with_images.sh $(BIN)/pytest tests/images

crds: $(STAMP)
	$(BIN)/qop crds --dir crds

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
