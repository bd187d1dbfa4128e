"""Every in-memory cache is bounded, evicts the least recently used entry first and is
counted; backend names have one spelling, so one backend is one entry."""

from __future__ import annotations

from functools import partial

import pytest

from qiskit_operator import metrics
from qiskit_operator.caches import WORKER, BoundedCache, CacheCounts, RemoteCacheCounts
from qiskit_operator.circuits.backends import canonical_name, noise_device
from qiskit_operator.errors import UserError
from qiskit_operator.settings import Settings


def sample(name: str, cache: str, process: str) -> float:
    value = metrics.REGISTRY.get_sample_value(name, {"cache": cache, "process": process})
    return value or 0.0


def test_a_cache_keeps_at_most_its_entries_and_drops_the_least_recently_used_first() -> None:
    cache: BoundedCache[str, str] = BoundedCache("backends", max_entries=2)
    built: list[str] = []

    def build(key: str) -> str:
        built.append(key)
        return key.upper()

    for key in ("a", "b", "a", "c", "a", "b"):
        assert cache.get(key, partial(build, key)) == key.upper()
    # "a" was used just before "c" came, so "b" went; then "b" came back and "c" went.
    assert built == ["a", "b", "c", "b"]
    assert cache.counts() == CacheCounts(name="backends", hits=2, misses=4, evictions=2, entries=2)


def test_a_cache_counts_hits_misses_evictions_and_entries_as_metrics() -> None:
    before = {
        name: sample(name, "simulators", "function")
        for name in ("qop_cache_hits_total", "qop_cache_misses_total", "qop_cache_evictions_total")
    }
    cache: BoundedCache[int, int] = BoundedCache("simulators", max_entries=1)
    for key in (1, 1, 2):
        cache.get(key, partial(int, key))
    assert (
        sample("qop_cache_hits_total", "simulators", "function")
        == before["qop_cache_hits_total"] + 1
    )
    assert (
        sample("qop_cache_misses_total", "simulators", "function")
        == before["qop_cache_misses_total"] + 2
    )
    assert (
        sample("qop_cache_evictions_total", "simulators", "function")
        == before["qop_cache_evictions_total"] + 1
    )
    assert sample("qop_cache_entries", "simulators", "function") == 1


def test_a_cache_bounded_by_weight_drops_entries_until_the_rest_fits() -> None:
    cache: BoundedCache[str, list[int]] = BoundedCache(
        "transpiled", max_entries=10, max_weight=5, weigh=len
    )
    cache.get("three", lambda: [0, 0, 0])
    cache.get("two", lambda: [0, 0])
    assert cache.weight == 5
    cache.get("one", lambda: [0])
    assert cache.weight == 3  # "three" went first, as the least recently used
    assert cache.counts().entries == 2


def test_a_value_heavier_than_the_whole_bound_is_returned_but_not_kept() -> None:
    cache: BoundedCache[str, list[int]] = BoundedCache(
        "transpiled", max_entries=10, max_weight=2, weigh=len
    )
    cache.get("small", lambda: [0])
    assert cache.get("huge", lambda: [1, 2, 3]) == [1, 2, 3]
    assert cache.counts().entries == 1
    assert cache.weight == 1


def test_a_cache_without_room_for_one_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="room for one entry"):
        BoundedCache("backends", max_entries=0)


def test_the_workers_totals_count_once_and_start_again_after_a_restart() -> None:
    def hits() -> float:
        return sample("qop_cache_hits_total", "noise_models", WORKER)

    remote = RemoteCacheCounts()
    start = hits()
    remote.report([CacheCounts(name="noise_models", hits=3, misses=1, entries=1)])
    remote.report([CacheCounts(name="noise_models", hits=5, misses=1, entries=1)])
    assert hits() == start + 5
    assert sample("qop_cache_entries", "noise_models", WORKER) == 1
    remote.restarted()
    assert sample("qop_cache_entries", "noise_models", WORKER) == 0
    remote.report([CacheCounts(name="noise_models", hits=2, misses=1, entries=1)])
    assert hits() == start + 7


def test_a_cache_name_the_worker_makes_up_makes_no_series() -> None:
    RemoteCacheCounts().report([CacheCounts(name="made_up", hits=1)])
    assert (
        metrics.REGISTRY.get_sample_value(
            "qop_cache_hits_total", {"cache": "made_up", "process": WORKER}
        )
        is None
    )


@pytest.mark.parametrize(
    ("written", "spelling"),
    [
        ("generic_backend_0127q", "generic_backend_127q"),
        ("generic_backend_005q", "generic_backend_5q"),
        ("Generic_Backend_5Q", "generic_backend_5q"),
        ("fake_Manila", "fake_manila"),
        ("fake__manila", "fake_manila"),
    ],
)
def test_a_backend_name_spelled_another_way_is_refused_naming_its_one_spelling(
    written: str, spelling: str
) -> None:
    with pytest.raises(UserError, match=repr(spelling)) as refused:
        canonical_name(written)
    assert refused.value.reason == "UnknownBackend"


def test_a_backend_name_in_its_one_spelling_is_its_own_key() -> None:
    assert canonical_name("generic_backend_127q") == "generic_backend_127q"
    assert canonical_name("fake_manila") == "fake_manila"


def test_a_qubit_count_too_long_for_a_number_is_refused_as_out_of_range() -> None:
    with pytest.raises(UserError, match="2 to 127 qubits"):
        noise_device("generic_backend_" + "9" * 5000 + "q", max_qubits=32)


def test_a_noise_model_above_the_setting_is_refused_naming_the_setting() -> None:
    with pytest.raises(UserError, match="QOP_MAX_NOISE_MODEL_QUBITS") as refused:
        noise_device("generic_backend_33q", max_qubits=32)
    assert refused.value.reason == "NoiseModelTooLarge"
    assert "generic_backend_32q" in refused.value.message
    assert noise_device("generic_backend_32q", max_qubits=32).num_qubits == 32


def test_the_noise_model_qubit_limit_is_a_setting() -> None:
    assert Settings.from_env({}).limits.max_noise_model_qubits == 32
    env = {"QOP_MAX_NOISE_MODEL_QUBITS": "12"}
    assert Settings.from_env(env).limits.max_noise_model_qubits == 12
