"""Per-module declarative bases.

advanced-alchemy's stock bases share one global MetaData; a module here owns its
tables and migrations, so each gets its own registry (with advanced-alchemy's type
map: GUID, DateTimeUTC, JsonB) and therefore its own MetaData.
"""

from __future__ import annotations

from typing import Any

from advanced_alchemy.base import create_registry
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase

__all__ = ["declarative_base_for"]


def declarative_base_for(module: str) -> Any:
    """A fresh abstract declarative base whose MetaData holds only `module`'s tables."""
    registry = create_registry()
    registry.metadata.info["module"] = module
    return type(
        f"{module.title()}Base",
        (AsyncAttrs, DeclarativeBase),
        {"__abstract__": True, "registry": registry, "metadata": registry.metadata},
    )
