"""Parsing a circuit from a job's author reads no file, and deep nesting is a clear
refusal: OpenQASM includes other than the language's standard library are refused by
name before parsing; nesting too deep for a parser ends in a UserError, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from qiskit_operator.circuits.includes import check_includes
from qiskit_operator.circuits.loading import load_source
from qiskit_operator.errors import UserError
from qiskit_operator.events import payloads, types
from qiskit_operator.events.http import NotACloudEventError, from_request
from qiskit_operator.sandbox.pool import SandboxPool

SECRET = "zebracorn_7f3a91"  # a token only the file below holds


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A file on the server's disk that no error message may ever quote."""
    path = tmp_path / "secret.inc"
    path.write_text(f"{SECRET} q;\ngate {SECRET} a {{ U(0,0,0) a; }}\n")
    return path


def qasm2(include: str) -> str:
    return f'OPENQASM 2.0;\ninclude "{include}";\nqreg q[1];\nh q[0];\n'


def qasm3(include: str) -> str:
    return f'OPENQASM 3.0;\ninclude "{include}";\nqubit q;\nh q;\n'


def test_the_standard_libraries_are_still_included(sandbox: SandboxPool) -> None:
    assert load_source(qasm2("qelib1.inc"), "qasm2", sandbox).circuit.count_ops() == {"h": 1}
    assert load_source(qasm3("stdgates.inc"), "qasm3", sandbox).circuit.count_ops() == {"h": 1}


@pytest.mark.parametrize("name", ["/etc/passwd", "../x.inc", "other.inc", "stdgates.inc"])
def test_an_openqasm_2_include_of_any_other_file_is_refused_naming_it(
    name: str, sandbox: SandboxPool
) -> None:
    with pytest.raises(UserError) as refused:
        load_source(qasm2(name), "qasm2", sandbox)
    assert refused.value.reason == "IncludeRefused"
    assert refused.value.line == 2
    assert repr(name) in refused.value.message
    assert "'qelib1.inc'" in refused.value.message
    assert "root:" not in refused.value.message  # /etc/passwd's content is not quoted


@pytest.mark.parametrize("name", ["/etc/passwd", "../x.inc", "other.inc", "qelib1.inc"])
def test_an_openqasm_3_include_of_any_other_file_is_refused_naming_it(
    name: str, sandbox: SandboxPool
) -> None:
    with pytest.raises(UserError) as refused:
        load_source(qasm3(name), "qasm3", sandbox)
    assert refused.value.reason == "IncludeRefused"
    assert repr(name) in refused.value.message
    assert "'stdgates.inc'" in refused.value.message


@pytest.mark.parametrize("fmt", ["qasm2", "qasm3"])
def test_a_file_on_the_server_is_never_read_into_an_error(
    fmt: str, secret_file: Path, sandbox: SandboxPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Relative and absolute, from the directory the file is in (the parser's old default
    # include path was the working directory).
    monkeypatch.chdir(secret_file.parent)
    source = qasm2 if fmt == "qasm2" else qasm3
    for name in (str(secret_file), secret_file.name, f"./{secret_file.name}"):
        with pytest.raises(UserError) as refused:
            load_source(source(name), fmt, sandbox)  # type: ignore[arg-type]
        assert SECRET not in refused.value.message


@pytest.mark.parametrize(
    ("source", "language"),
    [
        # No white space, or a comment, between the keyword and the name.
        ('OPENQASM 2.0;\ninclude"other.inc";', "OpenQASM 2"),
        ('OPENQASM 2.0;\ninclude // a comment\n "other.inc";', "OpenQASM 2"),
        # A block comment is not a comment in OpenQASM 2: what is in it is still scanned.
        ('OPENQASM 2.0;\n/* x */ include "other.inc";', "OpenQASM 2"),
        ('OPENQASM 2.0;\n/*\ninclude "other.inc"; */', "OpenQASM 2"),
        # "//" inside a string does not start a comment that would hide the name.
        ('OPENQASM 2.0;\ninclude "a//b.inc";', "OpenQASM 2"),
        ('OPENQASM 3.0;\ninclude /* a comment */ "other.inc";', "OpenQASM 3"),
        ("OPENQASM 3.0;\ninclude 'other.inc';", "OpenQASM 3"),
        # A quote in a comment does not start a string that would hide the include.
        ('OPENQASM 3.0;\n// it\'s "fine\ninclude "other.inc";', "OpenQASM 3"),
        ('OPENQASM 3.0;\n/* " */ include "other.inc";', "OpenQASM 3"),
    ],
)
def test_comments_and_strings_do_not_hide_an_include(source: str, language: str) -> None:
    with pytest.raises(UserError, match="may include only"):
        check_includes(source, language)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "language"),
    [
        ('OPENQASM 2.0;\n// include "other.inc";\ninclude "qelib1.inc";', "OpenQASM 2"),
        ('OPENQASM 3.0;\n/* include "other.inc"; */\ninclude "stdgates.inc";', "OpenQASM 3"),
        ('OPENQASM 3.0;\n// include "other.inc";\ninclude "stdgates.inc";', "OpenQASM 3"),
    ],
)
def test_an_include_in_a_comment_is_not_refused(source: str, language: str) -> None:
    check_includes(source, language)  # type: ignore[arg-type]


def test_a_long_file_name_is_shown_cut_short() -> None:
    with pytest.raises(UserError) as refused:
        check_includes(qasm2("x" * 5000), "OpenQASM 2")
    assert len(refused.value.message) < 300


@pytest.mark.parametrize(
    ("source", "fmt", "language"),
    [
        ("OPENQASM 3.0;\nqubit q;\nU(" + "(" * 5000 + "1" + ")" * 5000 + ", 0, 0) q;", "qasm3",
         "OpenQASM 3"),
        ("x = " + "1 + " * 200_000 + "1\n", "python", "Python"),
        ("x = " + "-" * 200_000 + "1\n", "python", "Python"),
    ],
)  # fmt: skip
def test_deep_nesting_is_a_clear_refusal(
    source: str, fmt: str, language: str, sandbox: SandboxPool
) -> None:
    with pytest.raises(UserError) as refused:
        load_source(source, fmt, sandbox)  # type: ignore[arg-type]
    assert refused.value.reason == "NestedTooDeeply"
    assert refused.value.message.startswith(f"{language} is nested too deeply")


def test_a_structured_cloudevent_nested_too_deeply_is_not_a_cloudevent() -> None:
    body = '{"specversion": "1.0", "type": "t", "source": "/s", "id": "1", "data": '
    body += "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(NotACloudEventError, match="nested too deeply"):
        from_request({"content-type": "application/cloudevents+json"}, body.encode())


def test_event_data_nested_too_deeply_is_a_payload_error() -> None:
    deep = b'{"work": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(payloads.PayloadError, match="nested too deeply"):
        payloads.decode(types.JOB_VALIDATED, deep)
