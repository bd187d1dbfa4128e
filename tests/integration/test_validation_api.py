"""The validate HTTP API on a real server (`qop serve validate`, gunicorn):
every format, every limit, and escape attempts that must all end valid=false."""

from __future__ import annotations

import base64
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit

from qiskit_operator.circuits.serialization import to_qpy
from qiskit_operator.sandbox import confinement
from tests.conftest import BELL_PYTHON, BELL_QASM2
from tests.serving import served

LIMITS = {
    "QOP_SANDBOX_CPU_SECONDS": "2",
    "QOP_SANDBOX_TIMEOUT_SECONDS": "4",
    "QOP_SANDBOX_MEMORY_MB": "256",
    "QOP_MAX_SOURCE_BYTES": "20000",
    "QOP_MAX_QUBITS": "40",
    "QOP_MAX_DEPTH": "500",
    "QOP_MAX_CIRCUITS": "3",
    "QOP_SIMULATION_MEMORY_MB": "1024",
    "MAX_WORKERS": "4",
}


class Server:
    def __init__(self, base: str, marker_dir: Path) -> None:
        self.base = base
        self.marker_dir = marker_dir

    def validate(self, code: str, **fields: Any) -> dict[str, Any]:
        answer = requests.post(f"{self.base}/validate", json={"code": code, **fields}, timeout=30)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("validate-server")
    with served("validate", workdir, ready_timeout=90, **LIMITS) as (_, base):
        yield Server(base, workdir)


def bell_qpy() -> str:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return base64.b64encode(to_qpy(qc)).decode()


BELL_QASM3 = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\n'
    "cx q[0], q[1];\nc = measure q;\n"
)
QASM3_INPUT = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float theta;\nqubit[1] q;\n'
    "bit[1] c;\nrx(theta) q[0];\nc[0] = measure q[0];\n"
)


# --- the original service's contract ---------------------------------------------------


def test_health_reports_status_timestamp_and_version(server: Server) -> None:
    health = requests.get(f"{server.base}/health", timeout=5).json()
    assert health["status"] == "healthy"
    assert {"timestamp", "version"} <= set(health)


def test_the_original_request_gets_the_original_fields(server: Server) -> None:
    body = server.validate(BELL_PYTHON, backend_name="aer_simulator", optimization_level=1)
    assert body["valid"] is True
    assert body["errors"] == [] and isinstance(body["warnings"], list)
    assert (body["qubits"], body["depth"], body["gates"]) == (2, 3, 4)
    assert body["gate_types"] == {"cx": 1, "h": 1, "measure": 2}
    assert len(body["circuit_hash"]) == 64
    assert 0 < body["estimated_execution_time"] < 1
    assert body["method"] == "stabilizer" and body["memory_bytes"] > 0


@pytest.mark.parametrize(
    ("code", "fmt"),
    [
        (BELL_PYTHON, "python"),
        (BELL_QASM2, "qasm2"),
        (BELL_QASM3, "qasm3"),
        (bell_qpy(), "qpy"),
    ],
)
def test_every_format_is_detected_and_gives_the_same_hash(
    server: Server, code: str, fmt: str
) -> None:
    body = server.validate(code)
    reference = server.validate(BELL_QASM2)
    assert body["valid"] is True, body["errors"]
    assert body["format"] == fmt
    assert body["circuit_hash"] == reference["circuit_hash"]


def test_openqasm_3_inputs_become_parameters(server: Server) -> None:
    body = server.validate(QASM3_INPUT)
    assert body["valid"] is True
    assert body["parameters"] == ["theta"]
    assert any("parameterValues" in warning for warning in body["warnings"])


def test_a_device_backend_reports_the_transpiled_circuit(server: Server) -> None:
    body = server.validate(BELL_PYTHON, backend_name="generic_backend_5q", optimization_level=2)
    assert body["valid"] is True
    device = body["device"]
    assert device["num_qubits"] == 5
    assert set(device["transpiled_gate_types"]) <= set(device["basis_gates"])
    too_small = server.validate(ghz_qasm(3), backend_name="generic_backend_2q")
    assert too_small["valid"] is False and "has 2" in too_small["errors"][0]
    unknown = server.validate(BELL_PYTHON, backend_name="ibm_nowhere")
    assert unknown["valid"] is False and unknown["reason"] == "UnknownBackend"


LIBRARY_CIRCUITS = {
    "qft": "from qiskit import QuantumCircuit\nfrom qiskit.circuit.library import QFTGate\n"
    "qc = QuantumCircuit(4)\nqc.append(QFTGate(4), range(4))\nqc.measure_all()\n",
    "ansatz with numpy": "import numpy as np\nfrom qiskit.circuit.library import efficient_su2\n"
    "qc = efficient_su2(3, reps=2)\nqc = qc.assign_parameters(np.linspace(0, 1, "
    "qc.num_parameters))\nqc.measure_all()\n",
    "quantum volume": "from qiskit.circuit.library import quantum_volume\n"
    "qc = quantum_volume(4, seed=1)\nqc.measure_all()\n",
    "grover operator": "from qiskit import QuantumCircuit\n"
    "from qiskit.circuit.library import grover_operator\n"
    "oracle = QuantumCircuit(2)\noracle.cz(0, 1)\nqc = QuantumCircuit(2)\nqc.h([0, 1])\n"
    "qc.compose(grover_operator(oracle), inplace=True)\nqc.measure_all()\n",
}


@pytest.mark.parametrize("name", sorted(LIBRARY_CIRCUITS))
def test_circuits_built_with_qiskits_library_pass_the_sandbox(server: Server, name: str) -> None:
    body = server.validate(LIBRARY_CIRCUITS[name])
    assert body["valid"] is True, body["errors"]
    assert body["qubits"] >= 2 and body["gate_types"]["measure"] >= 2


def test_syntax_errors_carry_the_line(server: Server) -> None:
    body = server.validate("from qiskit import QuantumCircuit\nqc = QuantumCircuit(2\n")
    assert body["valid"] is False
    assert body["error_line"] == 2 and body["reason"] == "SyntaxError"


# --- limits --------------------------------------------------------------------------------


def ghz_qasm(qubits: int) -> str:
    lines = [
        "OPENQASM 2.0;",
        'include "qelib1.inc";',
        f"qreg q[{qubits}];",
        f"creg c[{qubits}];",
        "h q[0];",
    ]
    lines += [f"cx q[{i}],q[{i + 1}];" for i in range(qubits - 1)]
    return "\n".join([*lines, "measure q -> c;"])


@pytest.mark.parametrize(
    ("code", "fields", "reason", "words"),
    [
        ("x = 1\n" * 5000, {}, "SourceTooLarge", "limit is 20000"),
        (ghz_qasm(41), {}, "TooManyQubits", "at most 40 are allowed (QOP_MAX_QUBITS)"),
        ("OPENQASM 2.0;\nqreg q[1];\n" + "U(0.1,0,0) q[0];\n" * 501, {}, "TooDeep", "limit is 500"),
        (
            "from qiskit import QuantumCircuit\n"
            + "".join(f"c{i} = QuantumCircuit(1)\n" for i in range(4)),
            {},
            "TooManyCircuits",
            "limit is 3",
        ),
        (
            "from qiskit import QuantumCircuit\nqc = QuantumCircuit(34)\nqc.h(0)\nqc.t(0)\n",
            {"method": "statevector"},
            "TooLargeForMemory",
            "256.0 GiB",
        ),
        # The CPU limit or, on a loaded machine, the wall limit: both name their setting.
        ("while True:\n    pass\n", {}, "TimeLimit", "(QOP_SANDBOX_"),
        ("x = bytearray(2 * 1024 ** 3)\n", {}, "MemoryLimit", "memory"),
    ],
)
def test_each_limit_is_refused_with_a_reason(
    server: Server, code: str, fields: dict[str, Any], reason: str, words: str
) -> None:
    body = server.validate(code, **fields)
    assert body["valid"] is False
    assert body["reason"] == reason, body
    assert words in body["errors"][0]


def test_the_memory_refusal_names_a_method_that_fits(server: Server) -> None:
    body = server.validate(ghz_qasm(34), method="statevector")
    assert body["valid"] is False
    assert "34 qubits" in body["errors"][0] and "stabilizer" in body["errors"][0]
    assert server.validate(ghz_qasm(34))["method"] == "stabilizer"


# --- bad requests --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"{not json", {"content-type": "application/json"}, 400),
        (b'{"code": 5}', {"content-type": "application/json"}, 422),
        (b'{"backend_name": "aer_simulator"}', {"content-type": "application/json"}, 422),
        (b'{"code": "x", "optimization_level": 9}', {"content-type": "application/json"}, 422),
        (b'["code"]', {"content-type": "application/json"}, 422),
        (b"x" * 200_000, {"content-type": "application/json"}, 413),
    ],
)
def test_bad_requests_get_a_4xx_with_a_json_error(
    server: Server, body: bytes, headers: dict[str, str], status: int
) -> None:
    answer = requests.post(f"{server.base}/validate", data=body, headers=headers, timeout=10)
    assert answer.status_code == status
    assert "error" in answer.json()


def test_openapi_describes_the_validate_endpoint(server: Server) -> None:
    document = requests.get(f"{server.base}/openapi.json", timeout=5).json()
    operation = document["paths"]["/validate"]["post"]
    assert "ValidateRequest" in str(operation["requestBody"])
    assert set(document["components"]["schemas"]) >= {"ValidateRequest", "ValidateResponse"}


# --- escape attempts -----------------------------------------------------------------------

TRICK = "import qiskit\nB = qiskit.__builtins__\n"
ESCAPES = {
    "write a file": "open(MARKER, 'w').write('x')\n",
    "write a file through real builtins": TRICK + "B['open'](MARKER, 'w').write('x')\n",
    "read /etc/passwd": TRICK + "print(B['open']('/etc/passwd').read())\n",
    "os.system": "import os\nos.system('touch ' + MARKER)\n",
    "os through an allowed module": "import random\nrandom._os.system('touch ' + MARKER)\n",
    "os.open for writing": "import random\nos = random._os\n"
    "os.open(MARKER, os.O_WRONLY | os.O_CREAT)\n",
    "subprocess": TRICK + "B['__import__']('subprocess').run(['touch', MARKER])\n",
    "socket to loopback": TRICK + "s = B['__import__']('socket')\n"
    "s.create_connection(('127.0.0.1', PORT)).sendall(b'GET /health HTTP/1.0\\r\\n\\r\\n')\n",
    "urllib to loopback": TRICK + "u = B['__import__']('urllib.request')\n"
    "u.request.urlopen('http://127.0.0.1:' + str(PORT) + '/health')\n",
    "ctypes": TRICK
    + "c = B['__import__']('ctypes')\nc.CDLL(None).system(b'touch ' + MARKER.encode())\n",
    "__import__ builtin": "__import__('os').system('touch ' + MARKER)\n",
    "__builtins__ dict": "__builtins__['__import__']('os').system('touch ' + MARKER)\n",
    "object.__subclasses__ walk": (
        "for k in ().__class__.__base__.__subclasses__():\n"
        "    if k.__name__ == '_wrap_close':\n"
        "        k.__init__.__globals__['system']('touch ' + MARKER)\n"
        "raise RuntimeError('no way found')\n"
    ),
    "pickle": TRICK + "p = B['__import__']('pickle')\n"
    "p.loads(b'cos\\nsystem\\n(S\\'touch ' + MARKER.encode() + b'\\'\\ntR.')\n",
    "exec of a string": TRICK + "B['exec'](\"__import__('os').system('touch ' + MARKER)\")\n",
    "eval of a string": TRICK + "B['eval']('1 + 1')\n",
    "fork": "import random\nrandom._os.fork()\n",
    "threads": TRICK + "t = B['__import__']('threading')\nt.Thread(target=print).start()\n",
    "kill the server": "import random\nos = random._os\nos.kill(os.getppid(), 9)\n",
    "infinite loop": "while True:\n    pass\n",
    "sleep": TRICK + "B['__import__']('time').sleep(60)\n",
    "memory bomb": "x = [0] * (1024 ** 3)\n",
    "huge output": "print('x' * 10_000_000)\n",
    "deep recursion": "def f(n):\n    return f(n + 1)\nf(0)\n",
    "sys.exit": "raise SystemExit(0)\n",
    "read stdin": TRICK + "B['input']()\n",
    "raise the CPU limit": TRICK + "r = B['__import__']('resource')\n"
    "r.setrlimit(r.RLIMIT_CPU, (10 ** 6, 10 ** 6))\n",
    "list the file system": "import random\nrandom._os.listdir('/')\n",
}


# Refused by the sandbox, or stopped by a limit; never "valid", never a crash.
REFUSAL_REASONS = {"Forbidden", "TimeLimit", "MemoryLimit", "ProgramError", "SandboxLimit"}


@pytest.mark.parametrize("attempt", sorted(ESCAPES))
def test_escape_attempts_are_refused_without_side_effects(server: Server, attempt: str) -> None:
    marker = server.marker_dir / f"pwned-{attempt.replace(' ', '-').replace('/', '')}"
    port = server.base.rsplit(":", 1)[1]
    code = (
        f"MARKER = {str(marker)!r}\nPORT = {port}\nfrom qiskit import QuantumCircuit\n"
        + ESCAPES[attempt]
        + "qc = QuantumCircuit(1, 1)\nqc.measure(0, 0)\n"
    )
    body = server.validate(code)
    assert body["valid"] is False, f"{attempt} was not refused"
    assert body["errors"] and body["errors"][0], "a refusal must say why"
    assert body["reason"] in REFUSAL_REASONS, body
    assert not marker.exists(), f"{attempt} left a file behind"
    assert requests.get(f"{server.base}/health", timeout=5).status_code == 200
    assert server.validate(BELL_QASM2)["valid"] is True  # and the next request is served


@pytest.fixture(scope="module")
def unguarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The same server with the Python guard off (test-only): the kernel alone confines."""
    workdir = tmp_path_factory.mktemp("validate-unguarded")
    env = {**LIMITS, "QOP_SANDBOX_PYTHON_GUARD": "off"}
    with served("validate", workdir, ready_timeout=90, **env) as (_, base):
        yield Server(base, workdir)


# Those that would leave a trace if nothing but Python stood in their way.
UNGUARDED_ESCAPES = [
    "write a file through real builtins",
    "os.system",
    "subprocess",
    "ctypes",
    "object.__subclasses__ walk",
    "fork",
    "kill the server",
    "socket to loopback",
]


@pytest.mark.skipif(
    bool(confinement.available().missing), reason="this kernel lacks a confinement layer"
)
@pytest.mark.parametrize("attempt", UNGUARDED_ESCAPES)
def test_with_the_python_guard_off_escapes_over_http_still_leave_no_trace(
    unguarded: Server, attempt: str
) -> None:
    marker = unguarded.marker_dir / f"pwned-{attempt.replace(' ', '-').replace('/', '')}"
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        code = (
            f"MARKER = {str(marker)!r}\nPORT = {port}\nfrom qiskit import QuantumCircuit\n"
            + ESCAPES[attempt]
            + "qc = QuantumCircuit(1, 1)\nqc.measure(0, 0)\n"
        )
        body = unguarded.validate(code)
        # The request has been answered: a connection the program made would be queued.
        assert select.select([listener], [], [], 0)[0] == [], f"{attempt} connected"
    assert not marker.exists(), f"{attempt} left a file behind: {body}"
    health = requests.get(f"{unguarded.base}/health", timeout=5).json()
    assert health["isolation"]["seccomp"] is True
    assert unguarded.validate(BELL_QASM2)["valid"] is True  # and the next request is served


def test_monkey_patching_qiskit_in_one_request_does_not_reach_the_next(server: Server) -> None:
    patched = (
        "from qiskit import QuantumCircuit\n"
        "QuantumCircuit.h = lambda self, *a: None\n"
        "qc = QuantumCircuit(1, 1)\nqc.h(0)\nqc.measure(0, 0)\n"
    )
    assert server.validate(patched)["gate_types"] == {"measure": 1}
    assert server.validate(BELL_PYTHON)["gate_types"] == {"cx": 1, "h": 1, "measure": 2}


def test_changing_the_builtins_in_one_request_does_not_reach_the_next(server: Server) -> None:
    # Each child uses, copy-on-write, the builtins the zygote prepared once; a change is
    # its own. (A def makes the program run in the sandbox, not read as straight-line.)
    tampering = (
        "from qiskit import QuantumCircuit\n"
        "def tamper():\n"
        "    __builtins__['range'] = lambda *a: [0]\n"
        "    __builtins__.pop('len')\n"
        "tamper()\n"
        "qc = QuantumCircuit(3)\n"
        "for i in range(3):\n"
        "    qc.h(i)\n"
    )
    assert server.validate(tampering)["gate_types"] == {"h": 1}
    counting = (
        "from qiskit import QuantumCircuit\n"
        "def build(n):\n"
        "    qc = QuantumCircuit(n)\n"
        "    for i in range(len([0] * n)):\n"
        "        qc.h(i)\n"
        "    return qc\n"
        "qc = build(3)\n"
    )
    for _ in range(4):  # more than the pool keeps warm: children forked after the change too
        assert server.validate(counting)["gate_types"] == {"h": 3}


# --- property: no input makes the server fail -----------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
CODES = st.one_of(
    st.text(max_size=200),
    st.sampled_from([BELL_PYTHON, BELL_QASM2, BELL_QASM3, QASM3_INPUT]).flatmap(
        lambda code: st.integers(0, len(code)).map(lambda cut: code[:cut])
    ),
    st.binary(max_size=64).map(lambda raw: base64.b64encode(b"QISKIT" + raw).decode()),
)
REQUESTS = st.fixed_dictionaries(
    {},
    optional={
        "code": CODES | JSON_VALUES,
        "backend_name": st.sampled_from(["aer_simulator", "generic_backend_3q", "fake_x", ""])
        | JSON_VALUES,
        "optimization_level": st.integers(-2, 5) | JSON_VALUES,
        "format": st.sampled_from(["python", "qasm2", "qasm3", "qpy", "cobol"]),
        "variable": st.text(max_size=5),
        "method": st.sampled_from(["statevector", "stabilizer", "matrix_product_state", "x"]),
        "shots": st.integers(-5, 200_000),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=REQUESTS | JSON_VALUES)
def test_no_request_body_makes_the_server_answer_5xx(server: Server, body: object) -> None:
    answer = requests.post(f"{server.base}/validate", json=body, timeout=30)
    assert answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/json")


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=300))
def test_no_raw_bytes_make_the_server_answer_5xx(server: Server, raw: bytes) -> None:
    answer = requests.post(
        f"{server.base}/validate",
        data=raw,
        timeout=30,
        headers={"content-type": "application/json"},
    )
    assert answer.status_code < 500, answer.text
