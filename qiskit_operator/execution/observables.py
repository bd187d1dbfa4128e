"""Estimator observables as users write them: Pauli strings with optional coefficients.

`ZZ`, `-XX`, `0.5*ZI`, `0.5 ZI`, and sums such as `ZZ + 0.5*XX - 0.25*YY`.
As in Qiskit, the rightmost letter acts on qubit 0.
"""

from __future__ import annotations

import re

from qiskit.quantum_info import SparsePauliOp

from qiskit_operator.errors import UserError

_TERM = re.compile(
    r"^\s*(?P<sign>[+-]?)\s*(?:(?P<coeff>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)\s*\*?\s*)?"
    r"(?P<pauli>[IXYZ]+)\s*$"
)
_SPLIT = re.compile(r"(?<=[IXYZ\s])(?=[+-])")


def parse_observable(text: str, num_qubits: int) -> SparsePauliOp:
    terms: list[tuple[str, float]] = []
    for raw in _SPLIT.split(text.strip()):
        match = _TERM.match(raw)
        if not match:
            raise UserError(
                f"observable {text!r} is not a sum of Pauli strings; write e.g. ZZ, "
                "0.5*XX or ZZ + 0.5*XX",
                reason="InvalidObservable",
            )
        pauli = match.group("pauli")
        if len(pauli) != num_qubits:
            raise UserError(
                f"observable {text!r} has a {len(pauli)}-qubit term {pauli} but the circuit has "
                f"{num_qubits} qubits; write one letter per qubit",
                reason="InvalidObservable",
            )
        coeff = float(match.group("coeff") or 1.0)
        terms.append((pauli, -coeff if match.group("sign") == "-" else coeff))
    return SparsePauliOp.from_list(terms)
