"""What a process serves under `/schema`: the whole public API whichever modules it
mounts (the entry point hands the registry to the app factory), and its own
operations at `/schema/process.json`. The e2e test checks the same with real
processes behind Traefik; these build the apps in-process, in seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from cloudtaskhub import testing
from cloudtaskhub.app import create_app
from entrypoints.asgi import create_selected
from entrypoints.registry import select_modules

GENERATED = json.loads((Path(__file__).parents[2] / "docs" / "generated" / "openapi.json").read_text())
OPERATIONAL = {"/health/live", "/health/ready"}


@pytest.fixture
def serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`serve --modules <name>`'s app, built by the entry point from the environment."""

    def serve(modules: str) -> TestClient[Litestar]:
        monkeypatch.setenv("CTH_MODULES", modules)
        monkeypatch.setenv("CTH_ENV", "test")
        monkeypatch.setenv("CTH_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("CTH_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
        return TestClient(create_selected())  # no lifespan: nothing here needs the runtime

    return serve


@pytest.mark.parametrize("module", ["billing", "gateway"])
def test_a_one_module_process_serves_the_whole_public_document(serving, module: str) -> None:  # type: ignore[no-untyped-def]
    client = serving(module)

    assert client.get("/schema/openapi.json").json() == GENERATED
    ui = client.get("/schema")
    assert ui.status_code == 200
    # The Swagger UI embeds the document it shows: every module's operations.
    assert '"/api/v1/auth/login"' in ui.text
    assert '"/api/v1/projects/{project_id}/tasks"' in ui.text


@pytest.mark.parametrize("module", ["billing", "gateway"])
def test_a_one_module_process_describes_its_own_operations_at_process_json(serving, module: str) -> None:  # type: ignore[no-untyped-def]
    (mounted,) = select_modules([module])

    own = serving(module).get("/schema/process.json").json()

    assert set(own["paths"]) - OPERATIONAL
    for path in set(own["paths"]) - OPERATIONAL:
        assert any(path == p or path.startswith(p.rstrip("/") + "/") for p in mounted.path_prefixes), path
    assert set(own["paths"]) < set(GENERATED["paths"])
    assert own["components"]["securitySchemes"] == GENERATED["components"]["securitySchemes"]


def test_the_all_in_one_process_serves_the_same_document_at_both_paths(serving) -> None:  # type: ignore[no-untyped-def]
    client = serving("all")

    assert client.get("/schema/openapi.json").json() == GENERATED
    assert client.get("/schema/process.json").json() == GENERATED


def test_a_process_cannot_mount_a_module_the_public_api_lacks(tmp_path: Path) -> None:
    auth, billing = select_modules(["auth", "billing"])
    settings = testing.test_settings(f"sqlite+aiosqlite:///{tmp_path / 'db'}", str(tmp_path))

    with pytest.raises(ValueError, match="billing"):
        create_app([billing], settings, public_modules=[auth])


def test_without_public_modules_an_app_describes_what_it_mounts(tmp_path: Path) -> None:
    """Tests and the per-module docs build apps of a few modules; they describe just those."""
    settings = testing.test_settings(f"sqlite+aiosqlite:///{tmp_path / 'db'}", str(tmp_path))
    paths = set(
        TestClient(create_app(select_modules(["auth"]), settings)).get("/schema/openapi.json").json()["paths"]
    )

    assert "/api/v1/auth/login" in paths
    assert not any(p.startswith("/api/v1/billing") for p in paths)


@pytest.mark.parametrize(
    ("request_line", "module"),
    [
        ("GET /api/v1/notifications", "notification"),
        ("POST /api/v1/projects/0b2c41a8-5a55-4f4f-9d33-1f7e6d1b0c11/tasks", "project"),
        ("DELETE /api/v1/tasks/0b2c41a8-5a55-4f4f-9d33-1f7e6d1b0c11", "project"),
        ("GET /api/v1/billing/usage", "billing"),
    ],
)
def test_another_modules_path_answers_503_problem_json_with_retry_after(
    serving, request_line: str, module: str
) -> None:  # type: ignore[no-untyped-def]
    """The gateway's catch-all gets the paths of a module with no running task: the API
    exists, its module is not up, so a client is told to retry, not that there is no such
    endpoint."""
    method, path = request_line.split()

    answer = serving("gateway").request(method, path, json={} if method == "POST" else None)

    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.headers["retry-after"] == "5"
    assert module in answer.json()["detail"]


def test_a_path_no_module_serves_is_still_404_and_the_modules_own_paths_are_its_own(serving) -> None:  # type: ignore[no-untyped-def]
    client = serving("gateway")

    assert client.get("/api/v1/nothing-here").status_code == 404
    assert client.get("/api/v1/dashboard").status_code == 401  # the gateway's own: needs a token
    assert serving("all").get("/api/v1/notifications").status_code == 401  # mounted: its own handler
