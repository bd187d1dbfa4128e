"""The QiskitBackend catalogue: its CRD, its examples, and its status on the ping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from qiskit_operator.catalogue.refreshing import CatalogueRefresh, MemoryBackends, refreshed
from qiskit_operator.crds import crd_for_qiskitbackend
from qiskit_operator.models.backend import QiskitBackend
from qiskit_operator.reconciling import Reconciler
from qiskit_operator.results import ResultStore
from qiskit_operator.status.writer import MemoryStatusStore
from tests.conftest import EXAMPLES

BACKEND_EXAMPLES = sorted((EXAMPLES / "backends").glob("*.yaml"))
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def backend(name: str) -> QiskitBackend:
    return QiskitBackend.model_validate(yaml.safe_load((EXAMPLES / "backends" / name).read_text()))


def test_there_are_examples_for_aer_a_fake_ibm_device_and_braket_local() -> None:
    families = {backend(path.name).spec.family for path in BACKEND_EXAMPLES}
    assert families == {"aer", "ibm_runtime", "braket"}


@pytest.mark.parametrize("path", BACKEND_EXAMPLES, ids=lambda p: p.name)
def test_each_example_backend_passes_the_crds_schema(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema: dict[str, Any] = crd_for_qiskitbackend()["spec"]["versions"][0]["schema"][
        "openAPIV3Schema"
    ]
    jsonschema.Draft4Validator(schema).validate(yaml.safe_load(path.read_text()))


def test_the_backend_crd_is_cluster_scoped_with_the_short_name_qbackend() -> None:
    spec = crd_for_qiskitbackend()["spec"]
    assert spec["scope"] == "Cluster"
    assert spec["names"]["shortNames"] == ["qbackend"]
    columns = [c["name"] for c in spec["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["Family", "Device", "Qubits", "State", "Queue", "Per-Shot", "Age"]


def test_a_local_backends_status_is_static_with_no_queue_and_its_declared_state() -> None:
    manila = backend("ibm-fake-manila.yaml")
    status = refreshed(manila, NOW)
    assert (status.state, status.queue_length, status.last_refresh_time) == ("Available", 0, NOW)
    assert status.message is not None and "device snapshot simulated locally" in status.message
    manila.spec.availability = "Maintenance"
    assert refreshed(manila, NOW).state == "Maintenance"


def test_a_real_device_reads_unavailable_saying_this_cluster_cannot_reach_it() -> None:
    device = backend("ibm-fake-manila.yaml")
    device.spec.device = "ibm_sherbrooke"
    status = refreshed(device, NOW)
    assert status.state == "Unavailable" and status.queue_length is None
    assert status.message is not None and "cannot reach yet" in status.message


def test_reconciles_ping_refreshes_every_backends_status(tmp_path: Path) -> None:
    store = MemoryBackends([backend(path.name) for path in BACKEND_EXAMPLES])
    reconcile = Reconciler(
        MemoryStatusStore(),
        ResultStore(tmp_path),
        clock=lambda: NOW,
        catalogue=CatalogueRefresh(store),
    )
    reconcile.resync()
    statuses = {name: item.status for name, item in store.items.items()}
    assert set(statuses) == {"aer-simulator", "braket-local", "ibm-fake-manila"}
    assert all(s is not None and s.last_refresh_time == NOW for s in statuses.values())
    assert all(item.operational for item in store.items.values())
