"""The Swarm stack routes each module's declared prefixes, in both shapes, safely."""

from __future__ import annotations

from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs
from stackfile import (
    ROOT,
    SHAPES,
    STACK_FILE,
    AppService,
    MissingVariable,
    app_services,
    dockerfile_user,
    interpolate,
    load_stack,
    shape_environment,
)

try:
    from entrypoints.registry import ALL_MODULES
except ImportError as error:  # the registry is written alongside the stack
    pytest.skip(f"entrypoints.registry is not importable yet: {error}", allow_module_level=True)


def stack_for(shape: str) -> dict[str, Any]:
    return load_stack({**shape_environment(shape), "CTH_IMAGE_TAG": "1.2.3"})


def services_for(shape: str) -> dict[str, AppService]:
    return {service.name: service for service in app_services(stack_for(shape))}


def declared_prefixes() -> dict[str, set[str]]:
    return {module.name: set(module.path_prefixes) for module in ALL_MODULES}


def test_split_shape_routes_each_module_to_exactly_its_declared_prefixes() -> None:
    services = services_for("split")

    routed = {name: service.prefixes() for name, service in services.items() if service.routed}

    assert routed == declared_prefixes()
    assert all(services[name].modules == (name,) for name in routed)


def test_allinone_shape_routes_every_declared_prefix_to_one_all_modules_service() -> None:
    services = services_for("allinone")

    routed = {name: service.prefixes() for name, service in services.items() if service.routed}

    every_prefix = set().union(*declared_prefixes().values())
    assert routed == {"app": every_prefix}
    assert services["app"].modules == ("all",)


@pytest.mark.parametrize("shape", SHAPES)
def test_the_shape_not_in_use_runs_no_task(shape: str) -> None:
    services = services_for(shape)

    idle = {name for name, service in services.items() if not service.routed}

    assert all(services[name].replicas == 0 for name in idle)
    assert idle == ({"app"} if shape == "split" else set(declared_prefixes()))


@pytest.mark.parametrize("shape", SHAPES)
def test_the_root_index_router_has_the_lowest_priority(shape: str) -> None:
    routers = [r for s in services_for(shape).values() if s.routed for r in s.routers()]

    root = [router for router in routers if "/" in router.prefixes]

    assert [router.prefixes for router in root] == [("/",)]
    assert root[0].priority == 1
    assert all(r.priority is None or r.priority > 1 for r in routers if r not in root)


def test_every_app_service_runs_the_same_image_as_the_dockerfile_user() -> None:
    services = services_for("split").values()

    images = {service.spec["image"] for service in services}
    users = {service.spec["user"] for service in services}

    assert images == {"ghcr.io/cloudtaskhub/cloudtaskhub:1.2.3"}
    assert users == {dockerfile_user()}
    uid = dockerfile_user().split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0


@pytest.mark.parametrize("shape", SHAPES)
def test_only_processes_running_auth_receive_the_private_key(shape: str) -> None:
    services = services_for(shape).values()

    with_key = {s.name for s in services if "jwt_private_key" in s.secrets}
    with_key_path = {s.name for s in services if "CTH_JWT_PRIVATE_KEY_FILE" in s.spec["environment"]}

    runs_auth = {s.name for s in services if {"auth", "all"} & set(s.modules)}
    assert with_key == with_key_path == runs_auth == {"auth", "app"}


def test_the_image_tag_is_required_and_never_defaults_to_latest() -> None:
    environment = shape_environment("split")
    environment.pop("CTH_IMAGE_TAG", None)

    with pytest.raises(MissingVariable, match="CTH_IMAGE_TAG"):
        load_stack(environment)

    assert interpolate("${CTH_IMAGE_TAG:?x}", {"CTH_IMAGE_TAG": "9.9.9"}) == "9.9.9"


def test_app_updates_start_the_new_task_first_and_roll_back_on_failure() -> None:
    services = services_for("split").values()

    for service in services:
        deploy = service.spec["deploy"]
        assert deploy["update_config"]["order"] == "start-first", service.name
        assert deploy["update_config"]["failure_action"] == "rollback", service.name
        assert "rollback_config" in deploy, service.name
        assert deploy["resources"]["limits"]["memory"], service.name


@pytest.mark.parametrize("shape", SHAPES)
def test_metrics_are_scraped_on_their_own_port_which_no_traefik_label_routes(shape: str) -> None:
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [job] = [job for job in prometheus["scrape_configs"] if job["job_name"] == "cloudtaskhub"]
    scraped = {str(sd["port"]) for sd in job["dns_sd_configs"]}

    for service in services_for(shape).values():
        environment = service.spec["environment"]
        metrics_port = str(environment["CTH_METRICS_PORT"])
        command = [str(part) for part in service.spec["command"]]
        app_port = command[command.index("--port") + 1]
        routed_ports = {v for k, v in service.labels.items() if k.endswith(".loadbalancer.server.port")}
        assert scraped == {metrics_port} != {app_port}
        assert routed_ports == {app_port}, service.name
        assert environment["CTH_METRICS_HOST"] == "0.0.0.0"  # Prometheus is on another host


@pytest.mark.parametrize("stack_file", ["deploy/stack.yml", "deploy/testbed/stack.yml"])
def test_every_middleware_a_router_or_entrypoint_names_lives_in_traefiks_file_provider(
    stack_file: str,
) -> None:
    """Middlewares on Traefik's own labels exist only while its task is healthy: after every
    Traefik restart each router naming one failed, and the API answered 404 for ~20 s."""
    stack = yaml.safe_load((ROOT / stack_file).read_text())
    dynamic = yaml.safe_load((ROOT / "deploy" / "traefik" / "dynamic.yml").read_text())
    defined = {f"{name}@file" for name in dynamic["http"]["middlewares"]}
    named: set[str] = set()
    for flag in stack["services"]["traefik"]["command"]:
        if ".http.middlewares=" in flag:
            named.update(flag.split("=", 1)[1].split(","))
    for service in yaml.safe_load(STACK_FILE.read_text())["services"].values():
        for key, value in (service.get("deploy", {}).get("labels") or {}).items():
            assert not key.startswith("traefik.http.middlewares."), f"{key}: define it in dynamic.yml"
            if key.endswith(".middlewares"):
                named.update(part.strip() for part in str(value).split(","))

    assert named, "no middleware named at all"
    assert named <= defined, f"named but not defined in deploy/traefik/dynamic.yml: {named - defined}"
