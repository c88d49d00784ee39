"""Database seedwork: engines per URL, per-module declarative bases, the unit of work."""

from cloudtaskhub.db.base import declarative_base_for
from cloudtaskhub.db.engines import Databases, dialect_insert, is_postgres, is_sqlite
from cloudtaskhub.db.locks import serialize_per
from cloudtaskhub.db.rows import plain
from cloudtaskhub.db.unit_of_work import Transaction, UnitOfWork

__all__ = [
    "Databases",
    "Transaction",
    "UnitOfWork",
    "declarative_base_for",
    "dialect_insert",
    "is_postgres",
    "is_sqlite",
    "plain",
    "serialize_per",
]
