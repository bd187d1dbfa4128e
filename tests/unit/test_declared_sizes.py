"""The sizes a circuit declares are read from its tokens or QPY header and refused
over the limits before any parser allocates them; comments and strings can neither
hide a declaration nor fake one, and nothing but a UserError ever comes out."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit, qpy

from qiskit_operator.circuits.declarations import SizeLimits, check_qasm, check_qpy, literal
from qiskit_operator.circuits.qasm import load_qasm2, load_qasm3
from qiskit_operator.circuits.scanning import keywords, tokens
from qiskit_operator.circuits.serialization import from_qpy
from qiskit_operator.errors import UserError

LIMITS = SizeLimits(max_qubits=64, max_clbits=1024, max_circuits=4)
Q2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
Q3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'


def refusal(source: str) -> str:
    language = "OpenQASM 2" if source.startswith("OPENQASM 2") else "OpenQASM 3"
    with pytest.raises(UserError) as refused:
        check_qasm(source, language, LIMITS)
    return refused.value.message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5", 5),
        ("0000100000000", 100000000),
        ("1_000_000_000", 1000000000),
        ("0x10", 16),
        ("0b101", 5),
        ("0o17", 15),
        ("9" * 10_000, 10**18),
        ("1e9", None),
        ("0x", None),
        ("12abc", None),
    ],
)
def test_a_literal_is_read_exactly_and_a_huge_one_is_capped_without_converting_it(
    text: str, value: int | None
) -> None:
    assert literal(text) == value


def test_the_scanner_skips_comments_and_keeps_strings_brackets_and_physical_qubits() -> None:
    found = [(t.kind, t.text) for t in tokens('qubit[2] q; // x\n/* y */ "a//b" $3;', "OpenQASM 3")]
    assert found == [
        ("word", "qubit"),
        ("other", "["),
        ("number", "2"),
        ("other", "]"),
        ("word", "q"),
        ("other", ";"),
        ("string", '"a//b"'),
        ("physical", "$3"),
        ("other", ";"),
    ]


def test_the_keyword_scan_finds_whole_words_outside_comments_and_strings_only() -> None:
    source = (
        'qubit a; myqubit b; qubit_c; "qubit" // qubit\n/* qubit */ bit[2] c; $7 $x '
        "'qubit' 1qubit qubit"
    )
    found = [
        (t.kind, t.text) for t in keywords(source, "OpenQASM 3", frozenset({"qubit", "bit", "$"}))
    ]
    assert found == [
        ("keyword", "qubit"),
        ("keyword", "bit"),
        ("physical", "$7"),
        ("keyword", "qubit"),
    ]
    # OpenQASM 2 has no block comments and no single-quoted strings.
    found = [
        t.text for t in keywords("/* qreg */ 'qreg' // qreg", "OpenQASM 2", frozenset({"qreg"}))
    ]
    assert found == ["qreg", "qreg"]


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (Q2 + "qreg q[100000000];", "declares 100000000 qubits; at most 64 are allowed"),
        (Q2 + "creg c[100000000];", "declares 100000000 clbits; at most 1024 are allowed"),
        (Q2 + "qreg q[0000100000000];", "declares 100000000 qubits"),
        (Q2 + "qreg a[40];\nqreg b[40];", "declares 80 qubits"),
        (Q2 + "qreg q[" + "9" * 10_000 + "];", "declares more than 999999999999999999 qubits"),
        (Q2 + "qreg q // a comment between\n[100000000];", "declares 100000000 qubits"),
        (Q3 + "qubit[1_000_000_000] q;", "declares 1000000000 qubits"),
        (Q3 + "bit[1_000_000_000] c;", "declares 1000000000 clbits"),
        (Q3 + "qreg q[100000000];", "declares 100000000 qubits"),
        (Q3 + "creg c[100000000];", "declares 100000000 clbits"),
        (Q3 + "qubit[0x7fffffff] q;", "declares 2147483647 qubits"),
        (Q3 + "qubit /* hidden? */ [100000000] /* no */ q;", "declares 100000000 qubits"),
        (Q3 + "qubit q0;\n" * 65, "declares 65 qubits"),
        (Q3 + "const uint n = 1000000000;\nqubit[n] q;", "declare registers with literal sizes"),
        (Q3 + "qubit[10 * 10000000] q;", "declare registers with literal sizes"),
        (Q3 + "bit[" * 10_000, "declare registers with literal sizes"),
        (Q3 + "bit[n](x);", "declare registers with literal sizes"),
        (Q3 + "h $100000000;", "physical qubit $100000000; at most 64 qubits"),
        (Q3 + '// a quote " in a comment\nqubit[100000000] q;', "declares 100000000 qubits"),
        (Q3 + "\"a string\" 'and' qubit[100000000] q;", "declares 100000000 qubits"),
        # OpenQASM 2 has no block comments: what is in one is read, and refused.
        (Q2 + "/* qreg q[100000000]; */", "declares 100000000 qubits"),
    ],
)
def test_a_declaration_over_the_limits_is_refused_with_the_setting_that_raises_it(
    source: str, words: str
) -> None:
    message = refusal(source)
    assert words in message
    assert "QOP_MAX_QUBITS" in message or "QOP_MAX_CLBITS" in message or "literal" in message


@pytest.mark.parametrize(
    "source",
    [
        Q3 + "// qubit[100000000] q;\nqubit[2] q;",
        Q3 + "/* qreg q[100000000]; */\nqubit[2] q;",
        Q3 + 'qubit[2] q;\nbit[2] c;\nc = "qubit[100000000] r;";',
        Q2 + "// qreg q[100000000];\nqreg q[2];",
        Q3 + "qubit[64] q;\nbit[1024] c;\nbit[4](5);",  # a cast is not a declaration
        Q3 + "qubit[2] myqubit_[3];",  # not a keyword inside a longer name
    ],
)
def test_what_only_looks_like_a_declaration_is_not_counted(source: str) -> None:
    language = "OpenQASM 2" if source.startswith("OPENQASM 2") else "OpenQASM 3"
    check_qasm(source, language, LIMITS)


def dumped(*circuits: QuantumCircuit, version: int | None = None) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(list(circuits), buffer, **({} if version is None else {"version": version}))
    return buffer.getvalue()


def test_qpy_declaring_more_qubits_or_clbits_than_allowed_is_refused_before_loading() -> None:
    with pytest.raises(UserError, match=r"declares 70 qubits; at most 64 .*QOP_MAX_QUBITS"):
        from_qpy(dumped(QuantumCircuit(2), QuantumCircuit(70)), LIMITS)
    with pytest.raises(UserError, match=r"declares 2000 clbits; at most 1024 .*QOP_MAX_CLBITS"):
        from_qpy(dumped(QuantumCircuit(1, 2000)), LIMITS)
    assert [c.num_qubits for c in from_qpy(dumped(QuantumCircuit(64, 1024)), LIMITS)] == [64]


def test_a_forged_qpy_header_is_refused_without_allocating_what_it_declares() -> None:
    data = bytearray(dumped(QuantumCircuit(2, 2)))
    (start,) = struct.unpack_from("!Q", data, 20)  # the first circuit's offset
    struct.pack_into("!II", data, start + 5, 4_000_000_000, 4_000_000_000)
    with pytest.raises(UserError, match="declares 4000000000 qubits"):
        from_qpy(bytes(data), LIMITS)
    struct.pack_into("!Q", data, 10, 2**60)  # the number of circuits
    with pytest.raises(UserError, match=r"holds 1152921504606846976 circuits.*QOP_MAX_CIRCUITS"):
        from_qpy(bytes(data), LIMITS)


def test_old_qpy_holding_several_circuits_is_refused_as_its_sizes_cannot_be_read_first() -> None:
    with pytest.raises(UserError, match="send one circuit"):
        check_qpy(dumped(QuantumCircuit(1), QuantumCircuit(1), version=13), LIMITS)
    check_qpy(dumped(QuantumCircuit(64, 1024), version=13), LIMITS)
    with pytest.raises(UserError, match="declares 65 qubits"):
        check_qpy(dumped(QuantumCircuit(65), version=13), LIMITS)


def test_data_that_is_not_qpy_is_left_to_the_qpy_reader() -> None:
    for data in (b"", b"QISKIT", b"not qpy at all, but long enough to have a header"):
        check_qpy(data, LIMITS)


def written(size: int, style: int) -> str:
    if style == 1:
        return "000" + str(size)
    if style == 2 and size >= 1000:
        return f"{size:_}"
    return str(size)


SIZES = st.one_of(st.integers(1, 40), st.integers(10**6, 10**30))
DECLARATIONS = st.lists(
    st.tuples(st.sampled_from(["qreg", "creg", "qubit", "bit"]), SIZES, st.integers(0, 2)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(declarations=DECLARATIONS, version=st.sampled_from([2, 3]))
def test_generated_programs_are_refused_exactly_when_they_declare_too_much(
    declarations: list[tuple[str, int, int]], version: int
) -> None:
    lines = []
    for index, (keyword, size, style) in enumerate(declarations):
        if version == 2:
            keyword = {"qubit": "qreg", "bit": "creg"}.get(keyword, keyword)
            # OpenQASM 2 has no underscores, and leading zeros only where it is refused anyway.
            style = 1 if style and size > LIMITS.max_qubits else 0
        name = f"r{index}"
        if keyword in ("qreg", "creg"):
            lines.append(f"{keyword} {name}[{written(size, style)}];")
        else:
            lines.append(f"{keyword}[{written(size, style)}] {name};")
    source = (Q2 if version == 2 else Q3) + "\n".join(lines) + "\n"
    qubits = sum(size for keyword, size, _ in declarations if keyword in ("qreg", "qubit"))
    clbits = sum(size for keyword, size, _ in declarations if keyword in ("creg", "bit"))
    load = load_qasm2 if version == 2 else load_qasm3
    if qubits > LIMITS.max_qubits or clbits > LIMITS.max_clbits:
        with pytest.raises(UserError) as refused:
            load(source, LIMITS)
        assert refused.value.reason in ("TooManyQubits", "TooManyClbits")
    else:
        circuit = load(source, LIMITS)
        assert (circuit.num_qubits, circuit.num_clbits) == (qubits, clbits)


@settings(max_examples=300, deadline=None)
@given(source=st.text(alphabet=st.sampled_from(list("qubitregc[]0_9x;$/*\"' \n")), max_size=80))
def test_any_text_gets_through_the_scan_or_a_user_error_never_another_exception(
    source: str,
) -> None:
    for language in ("OpenQASM 2", "OpenQASM 3"):
        messages = []
        try:
            check_qasm("OPENQASM 3.0;\n" + source, language, LIMITS)  # type: ignore[arg-type]
        except UserError as error:
            messages.append(error.message)
        assert all(messages)
