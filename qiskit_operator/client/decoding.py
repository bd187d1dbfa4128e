"""A QiskitJob's full result (the JSON execute writes, docs/client.md) as the pub result
Qiskit's own primitives give: `SamplerPubResult` with one `BitArray` per classical
register, or `PubResult` with `evs` and `stds`, in the pub's shape.

Called by `OperatorJob.result()` once a pub's job has completed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from qiskit.primitives import DataBin, PubResult, SamplerPubResult
from qiskit.primitives.containers.bit_array import BitArray

from qiskit_operator.client.pubs import PubRequest


def pub_result(request: PubRequest, document: dict[str, Any]) -> PubResult:
    points = document.get("points") or []
    if not points:
        raise ValueError(f"qiskitjob {request.name}'s result has no points")
    if request.primitive == "sampler":
        return _sampler_result(request, points)
    return _estimator_result(request, points)


def _sampler_result(request: PubRequest, points: list[dict[str, Any]]) -> SamplerPubResult:
    circuit = request.circuit
    shape = request.shape
    registers = list(circuit.cregs)
    per_point = [_register_shots(point["counts"], [r.size for r in registers]) for point in points]
    fields: dict[str, BitArray] = {}
    for position, register in enumerate(registers):
        arrays = [per_point[row][position] for row in request.binding_index.reshape(-1)]
        stacked = np.stack(arrays) if arrays else np.zeros((0, 0, 0), dtype=np.uint8)
        fields[register.name] = BitArray(stacked.reshape(*shape, *stacked.shape[1:]), register.size)
    metadata = {"shots": request.shots, "circuit_metadata": dict(circuit.metadata or {})}
    return SamplerPubResult(DataBin(**fields, shape=shape), metadata=metadata)


def _register_shots(counts: dict[str, int], sizes: list[int]) -> list[np.ndarray[Any, Any]]:
    """Per register, its outcome of every shot, packed as `BitArray` keeps them
    (shots x bytes, big-endian). Counts keys hold the registers last first,
    space-separated, as `Result.get_counts` writes them; a shot's outcomes in the
    registers stay together, row by row."""
    keys = list(counts)
    repeats = np.array([counts[k] for k in keys], dtype=np.int64)
    parts = [list(reversed(key.split(" "))) if len(sizes) > 1 else [key] for key in keys]
    out = []
    for position, size in enumerate(sizes):
        if keys:
            unique = BitArray.from_samples([p[position] for p in parts], size).array
        else:
            unique = np.zeros((0, max(1, math.ceil(size / 8))), dtype=np.uint8)
        out.append(np.repeat(unique, repeats, axis=0))
    return out


def _estimator_result(request: PubRequest, points: list[dict[str, Any]]) -> PubResult:
    assert request.observable_index is not None
    values = np.array([p["expectation_values"] for p in points], dtype=float)
    errors = np.array([p.get("standard_errors") or [0.0] * values.shape[1] for p in points])
    rows, columns = request.binding_index, request.observable_index
    data = DataBin(
        evs=np.asarray(values[rows, columns]),
        stds=np.asarray(errors[rows, columns]),
        shape=request.shape,
    )
    metadata = {
        "target_precision": request.precision,
        "circuit_metadata": dict(request.circuit.metadata or {}),
    }
    return PubResult(data, metadata=metadata)
