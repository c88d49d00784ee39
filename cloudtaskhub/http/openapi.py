"""What a process serves under `/schema`: the deployment's whole public API, and its own.

A process mounts some of the modules; a client behind the edge sees all of them.
So the Swagger UI at `/schema` and the document at `/schema/openapi.json` describe
the **public** API — every module of the deployment, handed to the app factory by
the entry point that holds the module registry (the kernel names no module) — in
every shape. `/schema/process.json` describes what this process itself mounts:
the same document in the all-in-one shape, one module's operations (plus the
operational endpoints) in the split shape.

The public document is built from an app that is never served: the same route
handlers, dependencies and OpenAPI configuration the factory gives a process
mounting every module, so it is the all-in-one process's document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from cloudtaskhub.settings import Settings

__all__ = ["PROCESS_DOCUMENT", "SCHEMA_PATH", "openapi_config"]

SCHEMA_PATH = "/schema"
#: Under SCHEMA_PATH: the document of the operations this process mounts.
PROCESS_DOCUMENT = "/process.json"

Document = Callable[[], dict[str, Any]]


class _RenderingDocument(OpenAPIRenderPlugin):
    """Renders `inner` (Swagger UI, JSON) with `document` instead of the app's own routes."""

    def __init__(self, inner: OpenAPIRenderPlugin, document: Document) -> None:
        super().__init__(
            path=inner.paths, media_type=inner.media_type, favicon=inner.favicon, style=inner.style
        )
        self.inner = inner
        self.document = document

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return self.inner.render(request, self.document())

    def receive_router(self, router: Router) -> None:
        self.inner.receive_router(router)


def openapi_config(settings: Settings, public_document: Document | None = None) -> OpenAPIConfig:
    """`/schema` (UI) and `/schema/openapi.json` render `public_document` (default: the
    app's own routes); `/schema/process.json` always renders the app's own routes."""
    public: list[OpenAPIRenderPlugin] = [SwaggerRenderPlugin(path="/"), JsonRenderPlugin()]
    if public_document is not None:
        public = [_RenderingDocument(plugin, public_document) for plugin in public]
    return OpenAPIConfig(
        title="CloudTaskHub",
        version=settings.version,
        path=SCHEMA_PATH,
        render_plugins=[*public, JsonRenderPlugin(path=PROCESS_DOCUMENT)],
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
    )
