"""ASGI factories, usable by uvicorn directly:

uvicorn --factory entrypoints.asgi:create_all_in_one
CTH_MODULES=project uvicorn --factory entrypoints.asgi:create_selected
"""

from __future__ import annotations

from litestar import Litestar

from cloudtaskhub.app import create_app
from cloudtaskhub.heap import freeze_startup_heap
from cloudtaskhub.settings import load_settings
from entrypoints.registry import ALL_MODULES, select_modules


def create_all_in_one() -> Litestar:
    return _served(create_app(ALL_MODULES, load_settings()))


def create_selected() -> Litestar:
    """The modules named in `CTH_MODULES` (default: all); `/schema` describes all of them
    whichever are mounted, so the public document is the same in every shape."""
    settings = load_settings()
    return _served(create_app(select_modules(settings.modules), settings, public_modules=ALL_MODULES))


def _served(app: Litestar) -> Litestar:
    # Once the runtime has started (startup hooks run after the lifespan's start), the
    # objects alive now live as long as the process: the collector's full passes skip
    # them from here on (`cloudtaskhub.heap`: 24-28 ms per full pass instead of 115-321 ms).
    app.on_startup.append(freeze_startup_heap)
    return app
