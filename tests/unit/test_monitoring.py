"""knative/monitoring/ fits the code: the dashboard queries only metrics the functions
export, shows every one of them, and the PodMonitor selects the functions' pods."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

from qiskit_operator import metrics
from tests.conftest import ROOT

MONITORING = ROOT / "knative" / "monitoring"
FUNCTIONS = ("qiskit-validate", "qiskit-execute", "qiskit-reconcile")

# What is not a metric name in a PromQL expression: strings, label matchers, ranges,
# grouping clauses, offsets; keywords; and names followed by "(" are functions.
_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_OFFSETS = re.compile(r"\boffset\s+-?\w+")
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"bool", "and", "or", "unless", "group_left", "group_right", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    text = expr
    for pattern in (_STRINGS, _MATCHERS, _RANGES, _GROUPING, _OFFSETS):
        text = pattern.sub(" ", text)
    return {
        match[0]
        for match in _NAME.finditer(text)
        if match[0].lower() not in _KEYWORDS and not text[match.end() :].lstrip().startswith("(")
    }


def test_the_promql_reader_finds_metrics_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, format) (rate(a_bucket{format="x{y}"}[5m])))'
        " / on (pod) group_left b_total offset 5m"
    )
    assert metric_names(expr) == {"a_bucket", "b_total"}


def exported() -> dict[str, str]:
    """Every sample name the functions export, and the metric it belongs to."""
    names = {}
    for family in metrics.REGISTRY.collect():
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
        for suffix in suffixes.get(family.type, ("",)):
            names[family.name + suffix] = family.name
    return names


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return loaded


def queries(node: Any) -> Iterator[str]:
    """Every PromQL expression: panel targets, and template variables' label_values()."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            elif key == "definition" and isinstance(value, str):
                found = re.fullmatch(r"label_values\((\w+),\s*\w+\)", value)
                if found:
                    yield found[1]
            else:
                yield from queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from queries(item)


def test_the_dashboard_queries_only_metrics_the_functions_export() -> None:
    known = exported()
    found = list(queries(dashboard()))
    assert len(found) >= 10
    for expr in found:
        names = metric_names(expr)
        assert names, f"no metric in {expr!r}"
        unknown = names - set(known)
        assert not unknown, f"{expr!r} queries {unknown}, which no function exports"


def test_the_dashboard_shows_every_metric_the_functions_export() -> None:
    known = exported()
    shown = {known[name] for expr in queries(dashboard()) for name in metric_names(expr)}
    assert shown == set(known.values())


def test_every_dashboard_panel_reads_the_data_source_variable() -> None:
    panels = [p for p in dashboard()["panels"] if p["type"] != "row"]
    assert panels
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]


def pod_labels() -> dict[str, dict[str, str]]:
    """The labels each function's pods carry, from the revision template."""
    found = {}
    for document in yaml.safe_load_all((ROOT / "knative" / "services.yaml").read_text()):
        if document and document["kind"] == "Service":
            template = document["spec"]["template"]
            found[document["metadata"]["name"]] = template["metadata"]["labels"]
    return found


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector, as the API server reads it."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for requirement in selector.get("matchExpressions", []):
        key, operator = requirement["key"], requirement["operator"]
        values = requirement.get("values", [])
        present = key in labels
        if not {
            "In": present and labels[key] in values,
            "NotIn": not present or labels[key] not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]:
            return False
    return True


def pod_monitor() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((MONITORING / "podmonitor.yaml").read_text())
    return loaded


def test_the_pod_monitor_selects_the_pods_of_all_three_functions() -> None:
    monitor, labels = pod_monitor(), pod_labels()
    assert set(FUNCTIONS) <= set(labels)
    for name in FUNCTIONS:
        assert selects(monitor["spec"]["selector"], labels[name]), name


def test_the_pod_monitor_scrapes_metrics_where_the_functions_serve_them() -> None:
    (endpoint,) = pod_monitor()["spec"]["podMetricsEndpoints"]
    # Knative names the user container's port user-port, whatever the Service says.
    assert endpoint["port"] == "user-port"
    assert endpoint["path"] == "/metrics"
    for document in yaml.safe_load_all((ROOT / "knative" / "services.yaml").read_text()):
        if document and document["kind"] == "Service":
            (container,) = document["spec"]["template"]["spec"]["containers"]
            env = {item["name"]: item.get("value", "") for item in container.get("env", [])}
            # A separate METRICS_ADDR would be a port the PodMonitor does not scrape.
            assert env.get("METRICS_ADDR", "") == "", document["metadata"]["name"]


def kustomization(folder: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / folder / "kustomization.yaml").read_text())
    return loaded


def test_monitoring_is_its_own_kustomization_and_the_dashboard_a_grafana_config_map() -> None:
    own = kustomization("knative/monitoring")
    assert own["resources"] == ["podmonitor.yaml"]
    (generated,) = own["configMapGenerator"]
    assert generated["files"] == ["grafana-dashboard.json"]
    assert generated["options"]["labels"] == {"grafana_dashboard": "1"}
    # The main install must not need the prometheus-operator CRDs.
    assert not any("monitoring" in entry for entry in kustomization("knative")["resources"])
