"""Escapes from validate's sandbox on a real zygote, with the Python guard on and off.

The kernel's confinement (seccomp, Landlock, resource limits) is what these tests
rely on: each attempt runs twice, once as production runs it and once with the
guard switched off (QOP_SANDBOX_PYTHON_GUARD=off, test-only), and both times it
must leave no trace: no file written, no process started or left behind, no
connection made, no secret read, the parent unharmed. Each program reaches what
it needs the way an attacker would (`__subclasses__()` walks, a module's real
`__builtins__`, `sys.modules`), and reports what happened as its circuit's name,
so the guard-off runs also show that the kernel, not luck, said no.
"""

from __future__ import annotations

import os
import select
import socket
import textwrap
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qiskit_operator.circuits.serialization import from_qpy
from qiskit_operator.errors import UserError
from qiskit_operator.sandbox import confinement
from qiskit_operator.sandbox.pool import SandboxPool

OFFERED = confinement.available()
# A laptop whose kernel lacks a layer skips; CI's kernel has them all, so there it fails.
pytestmark = pytest.mark.skipif(
    (bool(OFFERED.missing) or OFFERED.landlock_abi < 6) and os.environ.get("CI") != "true",
    reason=f"this kernel lacks a confinement layer these tests rely on: {OFFERED}",
)

SECRET = "s3cr3t-" + uuid.uuid4().hex
TOKEN_VARIABLE = "QOP_TEST_SERVICE_TOKEN"

# Ways to what a program may not have, as an attacker finds them without imports.
PRELUDE = """\
from qiskit import QuantumCircuit
import qiskit
B = qiskit.__builtins__
B = B if isinstance(B, dict) else vars(B)
IMPORT = B["__import__"]
SYS = next(
    k for k in ().__class__.__base__.__subclasses__() if k.__name__ == "catch_warnings"
).__init__.__globals__["sys"]
OS = SYS.modules["os"]
"""
EPILOGUE = """\
try:
    outcome = repr(attempt())
except BaseException as error:
    outcome = type(error).__name__ + ": " + str(error)
qc = QuantumCircuit(1, name="outcome " + outcome[:300])
"""


@dataclass(frozen=True)
class Escape:
    body: str
    """The body of `attempt()`; may use MARKER, TOKEN, PORT, SECRET_PATH, PARENT."""
    refused_as: tuple[str, ...]
    """What the kernel answers when nothing else stops the attempt (guard off)."""


EPERM = ("Operation not permitted", "[Errno 1]", "-1")
EACCES = ("Permission denied", "[Errno 13]")
ESCAPES = {
    "switch the guard off through reachable objects, then os.system": Escape(
        """
        guard = SYS.modules.get("qiskit_operator.sandbox.guard")
        if guard is not None:
            guard._REFUSED_PREFIXES = ()
            guard._REFUSED_IMPORTS = frozenset()
        return OS.system("touch " + MARKER + "; sleep 30 " + TOKEN)
        """,
        ("-1", "32512", *EPERM),
    ),
    "os.fork through sys.modules": Escape(
        """
        pid = OS.fork()
        if pid == 0:
            OS.execv("/bin/sh", ["sh", "-c", "touch " + MARKER + "; sleep 30", TOKEN])
        return pid
        """,
        EPERM,
    ),
    "posix_spawn a grandchild that outlives the request": Escape(
        """
        return OS.posix_spawn(
            "/bin/sh", ["sh", "-c", "(sleep 30; touch " + MARKER + ") &", TOKEN], {}
        )
        """,
        EPERM,
    ),
    "_posixsubprocess.fork_exec of an arbitrary binary": Escape(
        """
        ps = IMPORT("_posixsubprocess")
        r, w = OS.pipe()
        return ps.fork_exec(
            [b"/bin/sh", b"-c", b"touch " + MARKER.encode(), TOKEN.encode()], [b"/bin/sh"],
            True, (w,), None, None, -1, -1, -1, -1, -1, -1, r, w,
            True, True, -1, None, None, None, -1, None, True,
        )
        """,
        EPERM,
    ),
    "ctypes through the real builtins, libc's system": Escape(
        """
        return IMPORT("ctypes").CDLL(None).system(("touch " + MARKER).encode())
        """,
        ("-1", "32512", *EPERM),
    ),
    "ctypes ptrace of the parent": Escape(
        """
        libc = IMPORT("ctypes").CDLL(None, use_errno=True)
        result = libc.ptrace(16, PARENT, 0, 0)  # PTRACE_ATTACH
        return (result, OS.strerror(IMPORT("ctypes").get_errno()))
        """,
        ("(-1, 'Operation not permitted')",),
    ),
    "write a file through the real open": Escape(
        """
        with B["open"](MARKER, "w") as f:
            f.write("pwned")
        """,
        EACCES,
    ),
    "write a file with os.open": Escape(
        """
        return OS.open(MARKER, OS.O_WRONLY | OS.O_CREAT)
        """,
        EACCES,
    ),
    "connect to a listening socket on loopback": Escape(
        """
        s = IMPORT("socket")
        return s.create_connection(("127.0.0.1", PORT), 2)
        """,
        EPERM,
    ),
    "read a secret file in a temporary directory": Escape(
        """
        return B["open"](SECRET_PATH).read()
        """,
        EACCES,
    ),
    "read a shadow-like file of mode 0600": Escape(
        """
        return B["open"](SHADOW_PATH).read()
        """,
        EACCES,
    ),
    "read /etc/passwd": Escape(
        """
        return B["open"]("/etc/passwd").read()
        """,
        EACCES,
    ),
    "read the service's token from the environment": Escape(
        """
        return OS.environ.get(TOKEN_VARIABLE) or B["open"]("/proc/self/environ").read()
        """,
        EACCES,
    ),
    "read the parent's environment and memory through /proc": Escape(
        """
        return B["open"]("/proc/%d/mem" % PARENT, "rb").read(16)
        """,
        EACCES,
    ),
    "signal the parent": Escape(
        """
        return OS.kill(PARENT, 15)
        """,
        EPERM,
    ),
    "signal the server": Escape(
        """
        return OS.kill(SERVER, 0)
        """,
        EPERM,
    ),
    "list the file system": Escape(
        """
        return OS.listdir("/")
        """,
        EACCES,
    ),
    "raise the CPU limit again": Escape(
        """
        r = IMPORT("resource")
        return r.setrlimit(r.RLIMIT_CPU, (10 ** 6, 10 ** 6))
        """,
        ("ValueError", "not allowed to raise maximum limit"),
    ),
}


@dataclass
class Sandbox:
    pool: SandboxPool
    guard: bool


@pytest.fixture(scope="module", params=[True, False], ids=["guard-on", "guard-off"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    # The service's own secret, in the server's environment: no child may see it.
    os.environ[TOKEN_VARIABLE] = SECRET
    pool = SandboxPool(warm=1, cpu_seconds=5, timeout=10, python_guard=request.param)
    try:
        assert pool.wait_warm(60), "the sandbox zygote did not start"
        yield Sandbox(pool, request.param)
    finally:
        pool.close()
        del os.environ[TOKEN_VARIABLE]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    with server:
        yield server


def zygote_pid(pool: SandboxPool) -> int:
    return pool._zygote.pid


def processes_naming(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue  # gone meanwhile
    return found


def run_escape(sandbox: Sandbox, body: str, tmp_path: Path, port: int, token: str) -> str:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    shadow = tmp_path / "shadow"
    shadow.write_text(f"root:{SECRET}:19000:0:99999:7:::\n")
    shadow.chmod(0o600)
    constants = {
        "MARKER": str(tmp_path / "pwned"),
        "TOKEN": token,
        "PORT": port,
        "SECRET_PATH": str(secret),
        "SHADOW_PATH": str(shadow),
        "PARENT": zygote_pid(sandbox.pool),
        "SERVER": os.getpid(),
        "TOKEN_VARIABLE": TOKEN_VARIABLE,
    }
    code = (
        PRELUDE
        + "".join(f"{name} = {value!r}\n" for name, value in constants.items())
        + "def attempt():\n"
        + textwrap.indent(textwrap.dedent(body).strip() + "\n", "    ")
        + EPILOGUE
    )
    try:
        result = sandbox.pool.run(code)
    except UserError as error:
        return f"refused: {error.reason}: {error.message}"
    (circuit,) = from_qpy(result.qpy)
    return str(circuit.name)


def assert_no_trace(
    sandbox: Sandbox, tmp_path: Path, listener: socket.socket, token: str, outcome: str
) -> None:
    assert not (tmp_path / "pwned").exists(), f"a file was written: {outcome}"
    assert processes_naming(token) == [], f"a process was started: {outcome}"
    # The program has ended: a connection it made would be waiting to be accepted.
    assert select.select([listener], [], [], 0)[0] == [], f"a connection was made: {outcome}"
    assert SECRET not in outcome, "the program read a secret"
    assert "TracerPid:\t0" in Path(f"/proc/{zygote_pid(sandbox.pool)}/status").read_text()
    assert sandbox.pool._zygote.poll() is None, f"the zygote died: {outcome}"
    # And the sandbox still serves the next program.
    assert sandbox.pool.run("from qiskit import QuantumCircuit\nqc = QuantumCircuit(2)\n")


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_an_escape_leaves_no_trace_with_the_guard_on_or_off(
    sandbox: Sandbox, name: str, tmp_path: Path, listener: socket.socket
) -> None:
    token = "qop-escape-" + uuid.uuid4().hex
    escape = ESCAPES[name]
    outcome = run_escape(sandbox, escape.body, tmp_path, listener.getsockname()[1], token)
    assert_no_trace(sandbox, tmp_path, listener, token, outcome)
    if not sandbox.guard:
        # Nothing in Python stood in the way: the kernel refused it.
        assert any(answer in outcome for answer in escape.refused_as), outcome


@pytest.mark.parametrize("sandbox", [False], ids=["guard-off"], indirect=True)
def test_with_the_guard_off_a_program_really_reaches_os_and_ctypes(
    sandbox: Sandbox, tmp_path: Path, listener: socket.socket
) -> None:
    # The escapes above are meaningful only if, unguarded, they get as far as the kernel.
    body = 'return (OS.getpid() > 0, IMPORT("ctypes").CDLL(None).getpid() > 0)'
    assert run_escape(sandbox, body, tmp_path, 1, "unused") == "outcome (True, True)"


# Each is (the frame's payload, as an expression the program evaluates; its length header).
FORGED_FRAMES = {
    # 16 MiB of nested one-element arrays: many times its size if decoded untyped.
    "nested arrays": ('b"\\x91" * (16 << 20)', "len(payload)"),
    "an array header claiming four billion items": ('b"\\xdd\\xff\\xff\\xff\\xff"', "len(payload)"),
    "the wrong shape": ('b"\\x94\\xa2ok\\x7b\\xc0\\xc0"', "len(payload)"),
    "a frame header over the limit": ('b""', "0xFFFFFFF0"),
}
FORGED_BYTES_MOST = 16 << 20


@pytest.mark.parametrize("name", sorted(FORGED_FRAMES))
def test_a_forged_reply_frame_is_refused_without_growing_the_parent(
    sandbox: Sandbox, name: str, tmp_path: Path, listener: socket.socket
) -> None:
    payload, header = FORGED_FRAMES[name]
    body = f"""
    s = IMPORT("socket")
    payload = {payload}
    for fd in range(3, 64):
        try:
            reply = s.socket(fileno=fd)
        except OSError:
            continue
        reply.sendall(({header}).to_bytes(4, "big") + payload)
        OS._exit(0)
    return "no socket found"
    """
    tracemalloc.start()
    try:
        outcome = run_escape(sandbox, body, tmp_path, 1, "unused")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The frame itself is read whole (twice over while it is assembled); nothing more.
    assert peak < 3 * FORGED_BYTES_MOST + (4 << 20), f"the parent grew by {peak} bytes"
    if not sandbox.guard:
        assert "malformed reply" in outcome, outcome
    else:  # the guard refuses socket objects, so the program finds none to forge with
        assert any(word in outcome for word in ("SandboxViolation", "no socket", "malformed")), (
            outcome
        )
    assert_no_trace(sandbox, tmp_path, listener, "unused-" + uuid.uuid4().hex, outcome)


def test_each_child_leads_its_own_process_group_which_is_killed_when_it_is_done(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    outcome = run_escape(sandbox, "return (OS.getpid(), OS.getpgid(0))", tmp_path, 1, "unused")
    pid, group = (int(n) for n in outcome.removeprefix("outcome (").rstrip(")").split(", "))
    assert group == pid
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "the child outlived its request"
