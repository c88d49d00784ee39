"""One OpenAPI document whatever the shape: six processes behind Traefik describe the
same API at `/schema/openapi.json` as the all-in-one process, and as docs/generated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from entrypoints.registry import ALL_MODULES
from entrypoints.split import SplitStack

pytestmark = pytest.mark.e2e

GENERATED = Path(__file__).parents[2] / "docs" / "generated" / "openapi.json"
METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
OPERATIONAL = ("/health/",)


def document(url: str, path: str = "/schema/openapi.json") -> dict[str, Any]:
    response = httpx.get(f"{url}{path}", timeout=10.0)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/")
    return dict(response.json())


def operations(doc: dict[str, Any]) -> dict[str, Any]:
    """`METHOD path` -> the operation object."""
    return {
        f"{method.upper()} {path}": operation
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


@pytest.mark.kafka
def test_six_processes_behind_traefik_serve_the_all_in_one_document_and_each_its_own(
    split_stack: SplitStack, all_in_one_memory: str
) -> None:
    split = document(split_stack.url)
    whole = document(all_in_one_memory)

    assert sorted(split["paths"]) == sorted(whole["paths"])
    assert operations(split) == operations(whole)
    assert split["components"]["schemas"] == whole["components"]["schemas"]
    assert split["components"]["securitySchemes"] == whole["components"]["securitySchemes"]
    assert split == whole
    # ... which is the committed document (the operational endpoints appear once in each).
    assert whole == json.loads(GENERATED.read_text(encoding="utf-8"))
    assert [p for p in whole["paths"] if p.startswith(OPERATIONAL)] == [
        "/health/live",
        "/health/ready",
    ]

    # Each process describes its own operations at /schema/process.json.
    public = split
    prefixes = {module.name: module.path_prefixes for module in ALL_MODULES}
    described: dict[str, Any] = {}
    for module, upstream in split_stack.upstreams.items():
        own = document(upstream, "/schema/process.json")
        # The same public document straight from the process, as from Traefik.
        assert document(upstream) == public
        for path in own["paths"]:
            assert (
                path.startswith(OPERATIONAL)
                or any(
                    path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes[module] if p != "/"
                )
                or (path == "/" and "/" in prefixes[module])
            ), f"{module} describes {path}"
        described |= operations(own)

    # Together the six processes serve exactly what the public document describes.
    assert described == operations(public)
