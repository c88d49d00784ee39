"""ASGI factories, usable by uvicorn directly:

uvicorn --factory entrypoints.asgi:create_all_in_one
CTH_MODULES=project uvicorn --factory entrypoints.asgi:create_selected
"""

from __future__ import annotations

from litestar import Litestar

from cloudtaskhub.app import create_app
from cloudtaskhub.settings import load_settings
from entrypoints.registry import ALL_MODULES, select_modules


def create_all_in_one() -> Litestar:
    return create_app(ALL_MODULES, load_settings())


def create_selected() -> Litestar:
    """The modules named in `CTH_MODULES` (default: all); `/schema` describes all of them
    whichever are mounted, so the public document is the same in every shape."""
    settings = load_settings()
    return create_app(select_modules(settings.modules), settings, public_modules=ALL_MODULES)
