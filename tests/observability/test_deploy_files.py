"""The Prometheus and Grafana files in deploy/: valid for their tools, and naming only
metrics the app really exports (a dashboard over a renamed metric is an empty panel)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import entrypoints.registry  # noqa: F401  (imports every module, so their metric families register)
import modules.analytics.metrics  # noqa: F401
from tests.observability.promql import label_values_metric, metric_names

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
#: Series Prometheus makes itself for every target.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def exported_names() -> set[str]:
    names = set(SYNTHETIC)
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
    }
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed: `make prometheus-install` (Debian package `prometheus`)")
    return path


def run(*args: str) -> None:
    result = subprocess.run(args, cwd=PROMETHEUS, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def dashboard_queries(dashboard: dict) -> list[str]:  # type: ignore[type-arg]
    panels = [p for p in dashboard["panels"]] + [c for p in dashboard["panels"] for c in p.get("panels", [])]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def rule_expressions() -> list[str]:
    return [
        str(rule["expr"])
        for path in sorted((PROMETHEUS / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def test_promtool_accepts_the_prometheus_config() -> None:
    run(promtool(), "check", "config", "prometheus.yml")


def test_promtool_accepts_the_alert_rules() -> None:
    run(promtool(), "check", "rules", *sorted(str(p) for p in (PROMETHEUS / "rules").glob("*.yml")))


def test_alerts_fire_on_the_series_the_app_exports_and_stay_quiet_otherwise() -> None:
    run(promtool(), "test", "rules", "rules-tests.yml")


def test_every_alert_rule_has_a_firing_and_a_quiet_unit_test() -> None:
    alerts = {
        str(rule["alert"])
        for path in sorted((PROMETHEUS / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    cases = [
        case
        for test in yaml.safe_load((PROMETHEUS / "rules-tests.yml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]

    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    assert len(alerts) == 9  # the README's count
    assert (alerts - firing, alerts - quiet) == (set(), set())


def test_alert_rules_name_only_exported_metrics() -> None:
    named = set().union(*(metric_names(expr) for expr in rule_expressions()))

    assert named - exported_names() == set()
    assert {"cloudtaskhub_dead_letters", "cloudtaskhub_consumer_lag", "up"} <= named


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_queries_name_only_exported_metrics(path: Path) -> None:
    dashboard = json.loads(path.read_text())

    queries = dashboard_queries(dashboard)
    variables = [v["query"]["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    named = set().union(*(metric_names(q) for q in queries), *(label_values_metric(v) for v in variables))

    assert queries
    assert named
    assert named - exported_names() == set()


def test_the_three_dashboards_exist_with_unique_uids() -> None:
    uids = {json.loads(p.read_text())["uid"]: p.name for p in DASHBOARDS}

    assert set(uids.values()) == {"http-overview.json", "event-bus.json", "business.json"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboards_use_only_provisioned_datasources(path: Path) -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "cloudtaskhub.yml").read_text())
    uids = {d["uid"] for d in provisioned["datasources"]}

    dashboard = json.loads(path.read_text())
    panels = dashboard["panels"]
    used = {p["datasource"]["uid"] for p in panels if "datasource" in p}
    used |= {t["datasource"]["uid"] for p in panels for t in p.get("targets", [])}

    assert used <= uids


def test_every_app_service_of_the_stack_is_scraped_per_task() -> None:
    stack = yaml.safe_load((ROOT / "deploy" / "stack.yml").read_text())
    app_services = {
        name
        for name, service in stack["services"].items()
        if (service.get("command") or [None])[0] == "serve"
    }
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "cloudtaskhub")

    names = {n for sd in job["dns_sd_configs"] for n in sd["names"]}

    assert names == {f"tasks.{service}" for service in app_services}
    assert "static_configs" not in job  # a service VIP would hide all but one replica


def test_the_query_reader_finds_every_metric_an_expression_selects() -> None:
    expr = 'histogram_quantile(0.95, sum by (le) (rate(a_bucket{route=~"/x.*"}[$__rate_interval]))) / b > 1e3'

    assert metric_names(expr) == {"a_bucket", "b"}
    assert label_values_metric('label_values(up{job="cloudtaskhub"}, service)') == {"up"}
