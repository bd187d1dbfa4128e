"""The size of a circuit with its gate definitions and loops unrolled, counted without
unrolling them: before parsing from OpenQASM's tokens (`definitions`), and after
parsing from the circuit (`expansion`), checked against sizes worked out here."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit

from qiskit_operator.circuits.declarations import SizeLimits
from qiskit_operator.circuits.definitions import check_definitions
from qiskit_operator.circuits.expansion import check_expansion, expanded_size
from qiskit_operator.circuits.qasm import load_qasm2
from qiskit_operator.circuits.serialization import from_qpy, to_qpy
from qiskit_operator.errors import UserError

LIMITS = SizeLimits(max_instructions=500, max_nesting=8)
Q2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\n'

# Each gate's body: calls of `h` (-1) or of a gate defined before it (its index).
BODIES = st.lists(st.lists(st.integers(min_value=-1, max_value=20), max_size=6), max_size=8)


def program(bodies: list[list[int]]) -> tuple[str, list[int]]:
    """OpenQASM 2 defining g0, g1, ... from `bodies`, calling the last; each gate's size."""
    sizes: list[int] = []
    lines = []
    for index, body in enumerate(bodies):
        calls = [f"g{c % index}" if c >= 0 and index else "h" for c in body] or ["id"]
        sizes.append(sum(sizes[int(c[1:])] if c[0] == "g" else 1 for c in calls))
        lines.append(f"gate g{index} a {{ " + " ".join(f"{c} a;" for c in calls) + " }")
    if bodies:
        lines.append(f"g{len(bodies) - 1} q[0];")
    return Q2 + "\n".join(lines) + "\n", sizes


@settings(max_examples=150, deadline=None)
@given(bodies=BODIES)
def test_generated_definitions_are_refused_exactly_when_they_unroll_past_the_limit(
    bodies: list[list[int]],
) -> None:
    source, sizes = program(bodies)
    if sum(sizes) > LIMITS.max_instructions:
        with pytest.raises(UserError) as refused:
            check_definitions(source, "OpenQASM 2", LIMITS)
        assert refused.value.reason == "TooManyInstructions"
        assert "(QOP_MAX_INSTRUCTIONS)" in refused.value.message
        return
    check_definitions(source, "OpenQASM 2", LIMITS)
    circuit = load_qasm2(source, LIMITS)
    assert expanded_size(circuit, LIMITS) == (sizes[-1] if sizes else 0)


def test_a_for_loop_counts_its_body_times_its_iterations() -> None:
    circuit = QuantumCircuit(2)
    with circuit.for_loop(range(10)):
        circuit.h(0)
        circuit.cx(0, 1)
    circuit.x(1)
    assert expanded_size(circuit, LIMITS) == 21


def test_a_loop_of_a_quadrillion_is_refused_without_counting_to_it() -> None:
    circuit = QuantumCircuit(1)
    with circuit.for_loop(range(10**15)):
        circuit.h(0)
    with pytest.raises(UserError) as refused:
        check_expansion(circuit, LIMITS)
    assert "at most 500 are allowed (QOP_MAX_INSTRUCTIONS)" in refused.value.message


def test_every_branch_of_an_if_counts_and_a_while_loop_counts_its_body_once() -> None:
    circuit = QuantumCircuit(1, 1)
    with circuit.if_test((circuit.clbits[0], 1)) as otherwise:
        circuit.h(0)
    with otherwise:
        circuit.x(0)
        circuit.x(0)
    with circuit.while_loop((circuit.clbits[0], 1)):
        circuit.h(0)
    assert expanded_size(circuit, LIMITS) == 4


def test_control_flow_nested_past_the_limit_is_refused_with_the_setting() -> None:
    inner = QuantumCircuit(1)
    inner.h(0)
    for _ in range(LIMITS.max_nesting + 1):
        outer = QuantumCircuit(1)
        outer.for_loop(range(1), None, inner, [0], [])
        inner = outer
    with pytest.raises(UserError) as refused:
        check_expansion(inner, LIMITS)
    assert refused.value.reason == "NestedTooDeeply"
    assert "(QOP_MAX_NESTING)" in refused.value.message


def test_a_gate_used_many_times_is_counted_once_per_use_from_one_walk_of_its_definition() -> None:
    source = Q2 + "gate k a { h a; x a; }\n" + "k q[0];\n" * 300
    with pytest.raises(UserError) as refused:
        load_qasm2(source, LIMITS)
    assert "502 or more" in refused.value.message


def test_modifiers_and_parameters_do_not_hide_the_gate_called() -> None:
    source = (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\n'
        "gate big(t) a { " + "rz(t) a; " * 300 + "}\n"
        "gate bigger(t) a, b { ctrl @ big(t) a, b; pow(2) @ big(t / 2) a; }\n"
    )
    with pytest.raises(UserError) as refused:
        check_definitions(source, "OpenQASM 3", LIMITS)
    assert "'bigger' (line 5)" in refused.value.message


def test_two_gates_of_one_name_are_each_counted_by_their_own_definition() -> None:
    # QPY can give one name two definitions; a count memoised by name would take the
    # small one's size for the big one, and let 600 instructions pass as 2.
    small = QuantumCircuit(1, name="g")
    small.h(0)
    big = QuantumCircuit(1, name="g")
    for _ in range(600):
        big.x(0)
    outer = QuantumCircuit(1, name="outer")
    outer.append(big.to_gate(), [0])
    circuit = QuantumCircuit(1)
    circuit.append(small.to_gate(), [0])
    circuit.append(outer.to_gate(), [0])
    loaded = from_qpy(to_qpy(circuit), SizeLimits(max_instructions=10_000))[0]
    assert expanded_size(loaded, LIMITS) > LIMITS.max_instructions


def test_a_definition_after_a_megabyte_of_unfinished_gate_heads_is_still_counted() -> None:
    # Each head stops at the next `gate`: read to the end once per keyword, this
    # megabyte took minutes.
    doubling = "gate d0 a { h a; h a; }\n" + "".join(
        f"gate d{i} a {{ d{i - 1} a; d{i - 1} a; }}\n" for i in range(1, 12)
    )
    source = Q2 + "gate g a " * 100_000 + ";\n" + doubling
    with pytest.raises(UserError) as refused:
        check_definitions(source, "OpenQASM 2", LIMITS)
    assert "'d7' (line 12)" in refused.value.message  # 2 + 4 + ... + 256 > 500
