"""Tables owned by the gateway: read models fed by other modules' events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from cloudtaskhub.db import declarative_base_for

GatewayBase = declarative_base_for("gateway")


class ProcessModel(GatewayBase):
    """The last heartbeat of one module in one process."""

    __tablename__ = "gateway_processes"

    module: Mapped[str] = mapped_column(String(50), primary_key=True)
    process: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[str] = mapped_column(String(50))
    bus: Mapped[str] = mapped_column(String(20))
    outbox_backlog: Mapped[int]
    dead_letters: Mapped[int] = mapped_column(default=0)
    last_seen: Mapped[datetime]
