"""Async engines, one per distinct URL, shared by the modules that use it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

__all__ = ["Databases", "is_postgres", "is_sqlite"]


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, a busy timeout, and `BEGIN IMMEDIATE`.

    pysqlite's deferred transactions upgrade a read lock to a write lock late and
    fail at once with "database is locked" when another connection writes; taking
    the write lock at BEGIN makes concurrent writers queue on the busy timeout
    instead (SQLAlchemy's documented recipe for serializable SQLite).
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Databases:
    """Engines and session factories keyed by URL; modules look theirs up by URL."""

    def __init__(self, *, pool_size: int = 10, echo: bool = False) -> None:
        self._engines: dict[str, AsyncEngine] = {}
        self._sessionmakers: dict[str, async_sessionmaker[AsyncSession]] = {}
        self._pool_size = pool_size
        self._echo = echo

    def engine(self, url: str) -> AsyncEngine:
        if url not in self._engines:
            self._engines[url] = self._create(url)
        return self._engines[url]

    def sessionmaker(self, url: str) -> async_sessionmaker[AsyncSession]:
        if url not in self._sessionmakers:
            self._sessionmakers[url] = async_sessionmaker(self.engine(url), expire_on_commit=False)
        return self._sessionmakers[url]

    def _create(self, url: str) -> AsyncEngine:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(
                url, echo=self._echo, pool_size=self._pool_size, max_overflow=10, pool_timeout=60
            )
            _configure_sqlite(engine)
            return engine
        return create_async_engine(
            url,
            echo=self._echo,
            pool_size=self._pool_size,
            max_overflow=self._pool_size,
            pool_pre_ping=True,
            pool_recycle=1800,
        )

    @property
    def engines(self) -> list[AsyncEngine]:
        return list(self._engines.values())

    async def dispose(self) -> None:
        for engine in self._engines.values():
            await engine.dispose()
        self._engines.clear()
        self._sessionmakers.clear()
