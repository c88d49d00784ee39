"""A tiny consuming module for kernel tests: records each `UserRegistered` it sees,
and can be told to fail its first N attempts."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import SpanContext
from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from cloudtaskhub.db import declarative_base_for
from cloudtaskhub.module import HandlerContext, Module, Subscription
from cloudtaskhub.runtime import ModuleRuntime
from modules.auth.contracts import UserRegistered

ProbeBase = declarative_base_for("probe")


class SeenModel(ProbeBase):
    __tablename__ = "probe_seen"

    email: Mapped[str] = mapped_column(String(254), primary_key=True)
    times: Mapped[int]


@dataclass
class FailurePlan:
    remaining: int = 0
    attempts: int = 0


failures = FailurePlan()
#: The trace context each handler call ran under, in order.
handled_under: list[SpanContext] = []


async def remember_registration(event: UserRegistered, ctx: HandlerContext) -> None:
    failures.attempts += 1
    handled_under.append(trace.get_current_span().get_span_context())
    if failures.remaining > 0:
        failures.remaining -= 1
        raise RuntimeError("probe told to fail")
    async with ctx.module.uow.transaction() as tx:
        seen = await tx.session.get(SeenModel, event.email)
        if seen is None:
            tx.session.add(SeenModel(email=event.email, times=1))
        else:
            seen.times += 1


async def seen_emails(module: ModuleRuntime) -> dict[str, int]:
    async with module.uow.read() as session:
        return {row.email: row.times for row in (await session.scalars(select(SeenModel))).all()}


probe = Module(
    name="probe",
    description="test consumer",
    metadata=ProbeBase.metadata,
    subscriptions=[Subscription(UserRegistered, remember_registration)],
)
