# The validate function: loads, checks and measures circuits; the validation API (Qiskit, no Aer).
# Built from the repository root, for amd64 and arm64 by docker-bake.hcl:
#   docker buildx bake -f docker-bake.hcl validate
#   docker build -f Dockerfiles/validate.Dockerfile -t qiskit-operator/validate .
# Runs `qop serve validate` on $PORT (default 8000); `docker run IMAGE --help` lists qop's
# other commands.

ARG PYTHON_IMAGE=python:3.11-slim
# The final stage's base: the same image unless one without pip and apt is named
# (images/base.sh makes such a pair). The venv's interpreter path, /usr/bin/python3
# or /usr/local/bin/python3, must be the same in both.
ARG RUNTIME_IMAGE=${PYTHON_IMAGE}

# The build stage runs on the build machine's platform for every target: it only
# unpacks wheels (install_wheels.sh), so an arm64 image builds without emulation.
FROM --platform=$BUILDPLATFORM ${PYTHON_IMAGE} AS build
ARG TARGETARCH
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
# A venv without pip or setuptools: the base image's pip fills it (--python), so
# neither is left in the final image.
RUN python3 -m venv --without-pip /opt/venv
# binutils-multiarch strips shared libraries of either platform (below); it stays
# in this stage.
# hadolint ignore=DL3008
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends binutils-multiarch \
    && rm -rf /var/lib/apt/lists/*
COPY Dockerfiles/requirements/validate.txt /tmp/requirements.txt
COPY Dockerfiles/install_wheels.sh /tmp/install_wheels.sh
# Wheels only, for the target's platform: every pin has one for amd64 and arm64,
# so nothing is compiled.
# Then what the function never imports goes, a quarter of the payload: the packages'
# own test suites, and kubernetes' asyncio client (kubernetes.aio, 66 MB; the kube
# adapter uses the synchronous one) with the aiohttp stack that only it needs.
# tests/integration/test_images.py serves Bell with these absent.
RUN --mount=type=cache,target=/root/.cache/pip \
    sh /tmp/install_wheels.sh /tmp/requirements.txt \
    && pip --python /opt/venv/bin/python uninstall --yes \
        aiohappyeyeballs aiohttp aiohttp-retry aiosignal attrs frozenlist multidict propcache yarl \
    && rm -r /opt/venv/lib/python3*/site-packages/kubernetes/aio \
    && find /opt/venv -depth -type d -name tests -exec rm -rf {} +
# The wheels' shared libraries without their symbol tables and debug sections,
# which nothing reads at run time: uvloop's library goes from 13 MB to 1 MB, Qiskit's
# from 21 to 17 (README, Images). Not those auditwheel patched (a vendored *.libs/
# library, or an $ORIGIN run path to one): strip moves their segments off the page
# alignment patchelf left, and the loader refuses them (numpy did).
RUN find /opt/venv -type f -name '*.so*' ! -path '*.libs/*' -exec sh -c \
    'for f; do readelf -d "$f" | grep -q "PATH.*ORIGIN" || strip --strip-unneeded "$f"; done' \
    strip {} +
# Pure-Python packages that are many small files, mostly docstrings, zipped with
# their bytecode: the kubernetes client's generated models and APIs (57 MB on
# disk, 10 MB zipped) and OpenTelemetry (5 MB, 1 MB). Python's zipimport loads
# them as fast (benchmarks/image_payload.py), and tracebacks still show their
# source lines. See the script for how.
COPY Dockerfiles/zip_package.py /tmp/zip_package.py
RUN /opt/venv/bin/python /tmp/zip_package.py /opt/venv/lib/python3*/site-packages \
        kubernetes opentelemetry
COPY pyproject.toml setup.py MANIFEST.in README.md /src/
COPY qiskit_operator /src/qiskit_operator
# setup.py puts these two folders into the package, as into the wheel users install:
# `qop serve` loads the function's main.py from there.
COPY knative /src/knative
COPY functions /src/functions
# --no-deps: the list above is this function's whole set; the package's metadata asks
# for every function's.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip --python /opt/venv/bin/python install --no-deps /src

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="qiskit-validate" \
      org.opencontainers.image.description="qiskit-operator validate function: loads, checks and measures quantum circuits (CloudEvents and the validation API)" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
RUN groupadd --gid 1000 qop \
    && useradd --uid 1000 --gid 1000 --create-home --shell /usr/sbin/nologin qop \
    && install -d -o 1000 -g 1000 /var/lib/qiskit-operator/results
COPY --from=build /opt/venv /opt/venv
# The results directory is a volume on a cluster
# (execute writes it, reconcile reads it). os.cpu_count() in a container is the
# node's cores, not the pod's CPU limit: set WORKERS to the limit.
# QOP_REQUIRE_ISOLATION: refuse to start unless the kernel can confine the untrusted
# code this function runs (Landlock, seccomp, rlimits; README's Settings). The seccomp
# layer loads libseccomp.so.2 (through pyseccomp), which the base image already has:
# Debian's apt depends on libseccomp2, so no package manager runs in this stage.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    QOP_RESULTS_DIR=/var/lib/qiskit-operator/results \
    QOP_REQUIRE_ISOLATION=true \
    WORKERS=2
WORKDIR /app
USER 1000:1000
EXPOSE 8000
# Kubernetes ignores HEALTHCHECK (its probes use GET /health and /ready); docker
# and docker compose use it. No curl in slim images: Python asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health', timeout=4)"]
ENTRYPOINT ["qop"]
CMD ["serve", "validate", "--host", "0.0.0.0"]
