"""Trigger filters behave as Knative's do, and the shipped Triggers route the pipeline."""

from __future__ import annotations

import pytest

from qiskit_operator.events import types
from qiskit_operator.events.envelope import Envelope
from qiskit_operator.routing.triggers import (
    AttributesFilter,
    DeliverySpec,
    TriggerError,
    load_triggers,
    parse_filter,
    parse_iso_duration,
    parse_trigger,
)
from tests.conftest import ROOT


def event(type_: str = "com.example.push", **extensions: str) -> Envelope:
    return Envelope(type=type_, source="/test", subject="ns/job", extensions=extensions)


def test_attributes_filter_needs_every_attribute_to_match_exactly() -> None:
    only_push_from_x = AttributesFilter((("type", "com.example.push"), ("kind", "X")))
    assert only_push_from_x.matches(event(kind="X"))
    assert not only_push_from_x.matches(event(kind="Y"))
    assert not only_push_from_x.matches(event())  # a missing extension never matches


def test_attributes_filter_with_an_empty_value_matches_any_present_value() -> None:
    any_kind = AttributesFilter((("kind", ""),))
    assert any_kind.matches(event(kind="anything"))
    assert not any_kind.matches(event())


def test_empty_attributes_filter_matches_every_event() -> None:
    assert AttributesFilter(()).matches(event())


@pytest.mark.parametrize(
    ("expression", "matching", "other"),
    [
        ({"exact": {"type": "a.b.c"}}, "a.b.c", "a.b.cd"),
        ({"prefix": {"type": "a.b."}}, "a.b.c", "a.bc"),
        ({"suffix": {"type": ".done"}}, "job.done", "job.done.not"),
    ],
)
def test_string_dialects_compare_case_sensitively(
    expression: dict[str, object], matching: str, other: str
) -> None:
    parsed = parse_filter(expression)
    assert parsed.matches(event(matching))
    assert not parsed.matches(event(other))
    assert not parsed.matches(event(matching.upper()))


def test_all_any_and_not_combine_expressions() -> None:
    parsed = parse_filter(
        {
            "all": [
                {"prefix": {"type": "io."}},
                {"any": [{"exact": {"kind": "A"}}, {"exact": {"kind": "B"}}]},
                {"not": {"suffix": {"type": ".finished"}}},
            ]
        }
    )
    assert parsed.matches(event("io.job.done", kind="A"))
    assert parsed.matches(event("io.job.done", kind="B"))
    assert not parsed.matches(event("io.job.done", kind="C"))
    assert not parsed.matches(event("io.job.finished", kind="A"))
    assert not parsed.matches(event("com.job.done", kind="A"))


@pytest.mark.parametrize(
    "expression",
    [
        {"exact": {"type": "a", "source": "b"}},
        {"cesql": "type = 'a'"},
        {"any": []},
        {"exact": {"type": "a"}, "prefix": {"type": "b"}},
    ],
)
def test_malformed_or_unsupported_expressions_are_refused(expression: dict[str, object]) -> None:
    with pytest.raises(TriggerError):
        parse_filter(expression)


def test_filters_take_precedence_over_filter_attributes() -> None:
    trigger = parse_trigger(
        {
            "metadata": {"name": "t"},
            "spec": {
                "filter": {"attributes": {"type": "never"}},
                "filters": [{"exact": {"type": "a"}}],
                "subscriber": {"ref": {"name": "svc"}},
            },
        }
    )
    assert trigger.filter.matches(event("a"))


def test_exponential_backoff_doubles_from_the_backoff_delay() -> None:
    delivery = DeliverySpec(retry=3, backoff_policy="exponential", backoff_delay_seconds=0.2)
    assert [delivery.delay(n) for n in (1, 2, 3)] == pytest.approx([0.2, 0.4, 0.8])
    assert DeliverySpec(backoff_policy="linear", backoff_delay_seconds=0.5).delay(3) == 1.5
    assert parse_iso_duration("PT1M30.5S") == 90.5


def test_shipped_triggers_route_each_event_type_to_the_right_functions() -> None:
    triggers = load_triggers(ROOT / "knative" / "triggers.yaml")

    def targets(env: Envelope) -> set[str]:
        return {t.subscriber for t in triggers if t.filter.matches(env)}

    job_event = {"kind": "QiskitJob", "name": "j", "namespace": "d", "apiversion": "quantum.io/v1"}
    # A new job wakes execute beside validate (its cold start overlaps validate's),
    # once, with no retry: a late wake-up is worth nothing.
    assert targets(event(types.APISERVER_ADD, **job_event)) == {
        "qiskit-validate",
        "qiskit-reconcile",
        "qiskit-execute",
    }
    (wake,) = [
        t
        for t in triggers
        if t.filter.matches(event(types.APISERVER_ADD, **job_event))
        and t.subscriber == "qiskit-execute"
    ]
    assert (wake.name, wake.delivery.retry) == ("execute-wake-up", 0)
    assert targets(event(types.APISERVER_UPDATE, **job_event)) == {
        "qiskit-validate",
        "qiskit-reconcile",
    }
    assert targets(event(types.APISERVER_DELETE, **job_event)) == {
        "qiskit-execute",
        "qiskit-reconcile",
    }
    assert targets(event(types.APISERVER_DELETE, kind="QiskitBackend")) == set()
    assert targets(event(types.APISERVER_ADD, kind="QiskitBackend")) == set()
    assert targets(event(types.JOB_VALIDATED)) == {"qiskit-execute", "qiskit-reconcile"}
    for outcome in (types.JOB_REJECTED, types.JOB_COMPLETED, types.JOB_FAILED):
        assert targets(event(outcome)) == {"qiskit-reconcile"}
    assert targets(event(types.JOB_FINISHED)) == set()
    assert targets(event(types.JOB_PROGRESSED)) == {"qiskit-reconcile"}
    progress = [t.name for t in triggers if t.filter.matches(event(types.JOB_PROGRESSED))]
    assert progress == ["reconcile-job-progress"]  # once, by its own Trigger
    assert targets(event(types.PING)) == {"qiskit-reconcile"}
    # A budgeted job reaches execute only through reconcile's admission (docs/budgets.md),
    # and a cancel only execute.
    assert targets(event(types.JOB_BUDGETED)) == {"qiskit-reconcile"}
    assert targets(event(types.EXECUTION_CANCEL)) == {"qiskit-execute"}
