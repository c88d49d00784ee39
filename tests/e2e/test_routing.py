"""Traefik routing comes from one declaration: each module's `path_prefixes`.

The configuration generated for local runs and the Swarm stack's labels must
route every prefix to the same module, with `/` as the lowest-priority fallback.
"""

from __future__ import annotations

from entrypoints.registry import ALL_MODULES
from entrypoints.routing import ROOT_PRIORITY, traefik_dynamic_config
from tests.deploy.stackfile import app_services, load_stack, shape_environment

UPSTREAMS = {module.name: f"http://{module.name}:8000" for module in ALL_MODULES}


def generated_routes() -> dict[str, set[str]]:
    """Module -> prefixes its routers match, read back from the generated configuration."""
    routers = traefik_dynamic_config(UPSTREAMS)["http"]["routers"]
    routes: dict[str, set[str]] = {}
    for router in routers.values():
        prefixes = {part.strip()[len("PathPrefix(`") : -2] for part in router["rule"].split("||")}
        routes.setdefault(router["service"], set()).update(prefixes)
    return routes


def test_generated_routing_serves_each_module_exactly_its_declared_prefixes() -> None:
    assert generated_routes() == {m.name: set(m.path_prefixes) for m in ALL_MODULES}


def test_generated_routing_sends_each_module_to_its_own_upstream() -> None:
    services = traefik_dynamic_config(UPSTREAMS)["http"]["services"]

    assert {name: s["loadBalancer"]["servers"][0]["url"] for name, s in services.items()} == UPSTREAMS


def test_only_the_root_router_has_an_explicit_priority_and_it_is_the_lowest() -> None:
    routers = traefik_dynamic_config(UPSTREAMS)["http"]["routers"]

    prioritised = {name: r["priority"] for name, r in routers.items() if "priority" in r}

    assert prioritised == {"gateway-root": ROOT_PRIORITY}
    assert routers["gateway-root"]["rule"] == "PathPrefix(`/`)"


def test_the_split_stack_labels_route_the_same_prefixes_to_the_same_modules() -> None:
    stack = load_stack({**shape_environment("split"), "CTH_IMAGE_TAG": "test"})

    labelled = {service.name: service.prefixes() for service in app_services(stack) if service.routed}

    assert labelled == generated_routes()


def test_the_stack_gives_the_root_router_the_same_lowest_priority() -> None:
    stack = load_stack({**shape_environment("split"), "CTH_IMAGE_TAG": "test"})

    roots = [r for s in app_services(stack) if s.routed for r in s.routers() if "/" in r.prefixes]

    assert [(r.prefixes, r.priority) for r in roots] == [(("/",), ROOT_PRIORITY)]


def test_the_stack_routes_schema_to_a_serve_process_in_both_shapes() -> None:
    """Every `serve` process describes the whole API at /schema (tests/e2e/test_api_document.py),
    so the stack must route /schema to one of them — here, the gateway's `/` catch-all."""
    for shape in ("allinone", "split"):
        stack = load_stack({**shape_environment(shape), "CTH_IMAGE_TAG": "test"})

        routed = {
            prefix: service.name
            for service in app_services(stack)
            if service.routed
            for prefix in service.prefixes()
            if "/schema/openapi.json".startswith(prefix)
        }

        assert routed, f"{shape}: nothing routes /schema"
        assert routed[max(routed, key=len)] in {"app", "gateway"}, shape
