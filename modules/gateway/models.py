"""Tables owned by the gateway: read models fed by other modules' events."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

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


# -- the dashboard's read model: who is in which project, open tasks by assignee,
# unread notifications, each user's plan. Rows of deleted things are kept as
# tombstones (`deleted`) so an event arriving late cannot bring them back.


class UserPlanModel(GatewayBase):
    """A user's current plan (`free` until billing says otherwise)."""

    __tablename__ = "gateway_user_plans"

    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    plan: Mapped[str] = mapped_column(String(50), default="free")
    #: When the plan shown took effect; an older SubscriptionChanged never wins.
    changed_at: Mapped[datetime | None]


class ProjectModel(GatewayBase):
    __tablename__ = "gateway_projects"

    project_id: Mapped[UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    deleted: Mapped[bool] = mapped_column(default=False)


class MembershipModel(GatewayBase):
    __tablename__ = "gateway_memberships"

    project_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True, index=True)


class TaskModel(GatewayBase):
    __tablename__ = "gateway_tasks"

    task_id: Mapped[UUID] = mapped_column(primary_key=True)
    project_id: Mapped[UUID]
    assignee_id: Mapped[UUID | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20))
    deleted: Mapped[bool] = mapped_column(default=False)


class NotificationModel(GatewayBase):
    __tablename__ = "gateway_notifications"

    notification_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(index=True)
    read: Mapped[bool] = mapped_column(default=False)
