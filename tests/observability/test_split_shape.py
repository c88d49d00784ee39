"""The split shape for real — a Tansu broker, one `cloudtaskhub serve` process per module,
Traefik in front — observed from outside:

- one trace id covers the `PATCH /api/v1/tasks/{id}` server span in `cloudtaskhub-project`,
  its publish span, and the consumer spans in the other modules' processes (Kafka headers
  carry the context), as exported over OTLP/HTTP to a receiver on 127.0.0.1;
- a real Prometheus (Debian package) scrapes every process and answers PromQL on event metrics.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from entrypoints.registry import ALL_MODULES
from entrypoints.split import SplitStack, free_port
from modules.project.contracts import TaskAssigned
from tests.observability.otlp import OtlpReceiver, ReceivedSpan
from tests.observability.scenario import PATCH_ROUTE, assigned_type, consumers_of

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

T = TypeVar("T")
RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
FAST = {
    "CTH_HEARTBEAT_INTERVAL_SECONDS": "1",
    "CTH_OUTBOX_POLL_INTERVAL_SECONDS": "0.5",
    "CTH_DB_BOOTSTRAP": "create",
    "CTH_LOG_FORMAT": "json",
    # Export within a fraction of a second, not the SDK's default 5 s.
    "OTEL_BSP_SCHEDULE_DELAY": "200",
}


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 45.0) -> T:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except (httpx.HTTPError, AssertionError, KeyError) as error:
            result, last = None, error
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout:.0f}s: {what} (last: {last})")


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as r:
        yield r


@pytest.fixture(scope="module")
def stack(receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitStack]:
    env = {**FAST, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    with SplitStack(tmp_path_factory.mktemp("split"), env=env) as running:
        yield running


@pytest.fixture(scope="module")
def assigned_task(stack: SplitStack) -> str:
    """Through Traefik: register and log in, create a project and a task, PATCH to assign it."""
    with httpx.Client(base_url=stack.url, timeout=10.0) as http:
        email, password = f"alice-{uuid.uuid4().hex[:8]}@example.com", "correct horse battery staple"
        body = {"email": email, "password": password, "display_name": "Alice"}
        alice = http.post("/api/v1/auth/register", json=body).json()["id"]
        token = http.post("/api/v1/auth/login", json={"email": email, "password": password}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        project = http.post("/api/v1/projects", json={"name": "Apollo"}, headers=headers).json()["id"]
        task = http.post(f"/api/v1/projects/{project}/tasks", json={"title": "Spec"}, headers=headers)
        assert task.status_code == 201, task.text
        patched = http.patch(
            f"/api/v1/tasks/{task.json()['id']}", json={"assignee_id": alice}, headers=headers
        )
        assert patched.status_code == 200, patched.text
        return str(task.json()["id"])


def _consumer_services(trace: list[ReceivedSpan], producer: ReceivedSpan) -> set[str]:
    return {s.service for s in trace if s.kind == "CONSUMER" and s.parent_span_id == producer.span_id}


def _patch_trace(spans: list[ReceivedSpan]) -> list[ReceivedSpan] | None:
    server = next((s for s in spans if s.kind == "SERVER" and s.name == f"PATCH {PATCH_ROUTE}"), None)
    if server is None:
        return None
    trace = [s for s in spans if s.trace_id == server.trace_id]
    producer = next(
        (s for s in trace if s.kind == "PRODUCER" and s.name == f"{assigned_type()} publish"), None
    )
    expected = {f"cloudtaskhub-{m}" for m in consumers_of(TaskAssigned, ALL_MODULES)}
    if producer is None or not _consumer_services(trace, producer) >= expected:
        return None
    return trace


def test_one_trace_crosses_processes_from_the_request_to_other_modules_handlers(
    receiver: OtlpReceiver, assigned_task: str
) -> None:
    trace = receiver.wait_for(_patch_trace, timeout=45)

    assert trace, f"no complete PATCH trace; services seen: {sorted({s.service for s in receiver.spans})}"
    server = next(s for s in trace if s.kind == "SERVER" and s.name == f"PATCH {PATCH_ROUTE}")
    producer = next(s for s in trace if s.kind == "PRODUCER")
    assert server.service == producer.service == "cloudtaskhub-project"
    assert producer.attributes["messaging.system"] == "kafka"
    assert _consumer_services(trace, producer) == {
        f"cloudtaskhub-{m}" for m in consumers_of(TaskAssigned, ALL_MODULES)
    }
    assert "cloudtaskhub-notification" in _consumer_services(trace, producer)


# -- a real Prometheus ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus(stack: SplitStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus not installed: `make prometheus-install` (Debian package `prometheus`)")
    run_dir = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in sorted(RULES.glob("*.yml"))],
        "scrape_configs": [
            {
                "job_name": "cloudtaskhub",
                "static_configs": [
                    # The metrics listeners, as deploy/prometheus scrapes them: not the app ports.
                    {"targets": [address.removeprefix("http://")], "labels": {"service": module}}
                    for module, address in stack.metrics.items()
                ],
            }
        ],
    }
    (run_dir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (run_dir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={run_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={run_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        eventually(lambda: _accepts(port) and httpx.get(f"{url}/-/ready").status_code == 200, "Prometheus")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def test_prometheus_scrapes_every_process_of_the_split_shape(stack: SplitStack, prometheus: str) -> None:
    def all_up() -> list[dict[str, Any]] | None:
        result = query(prometheus, 'up{job="cloudtaskhub"} == 1')
        return result if len(result) == len(stack.upstreams) else None

    up = eventually(all_up, "every module process scraped")

    assert {series["metric"]["service"] for series in up} == set(stack.upstreams)


def test_prometheus_answers_promql_on_event_metrics_of_the_split_shape(
    prometheus: str, assigned_task: str
) -> None:
    type_ = assigned_type()

    def handled() -> dict[str, float] | None:
        result = query(
            prometheus, f'sum by (service, module) (cloudtaskhub_events_handled_total{{type="{type_}"}})'
        )
        found = {series["metric"]["service"]: float(series["value"][1]) for series in result}
        return found if set(found) >= consumers_of(TaskAssigned, ALL_MODULES) else None

    per_service = eventually(handled, f"{type_} handled in every consuming process")
    published = query(prometheus, f'sum(cloudtaskhub_events_published_total{{type="{type_}"}})')
    lag = query(prometheus, 'cloudtaskhub_consumer_lag{service="notification"}')

    assert all(count >= 1 for count in per_service.values())
    assert float(published[0]["value"][1]) >= 1
    assert lag, "the Kafka consumer of notification exports its lag per partition"
    assert {series["metric"]["topic"] for series in lag} >= {"cloudtaskhub.project.events"}


def test_prometheus_evaluates_the_alert_rules_on_live_series(prometheus: str, assigned_task: str) -> None:
    def evaluated() -> list[dict[str, Any]] | None:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if rules and all(r.get("lastEvaluation", "").startswith("2") for r in rules) else None

    rules = eventually(evaluated, "every alert rule evaluated")

    assert all(rule["health"] == "ok" for rule in rules), [r for r in rules if r["health"] != "ok"]
    assert not [
        r["name"] for r in rules if r["name"] == "CloudTaskHubInstanceDown" and r["state"] != "inactive"
    ]
